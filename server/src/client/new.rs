//! `malten new`: a private stream and its share links.
//!
//! Made exactly as the web app's "New private stream" makes one: a random
//! 22-character name (the server picks it), and unless `--plain` a
//! passphrase of 18 random bytes (24 base64url characters, 144 bits), a
//! fresh salt, the minimum iterations and a key check. The links are pinned
//! to the stream the server answered with ([`Link::pinned`]).

use clap::Args;
use malten_shared::crypto::{derive_key, encode_base64url, EncryptionParams, KdfParams};
use malten_shared::link::Link;

use super::api::Api;
use super::target::Target;
use super::{ClientError, ServerArg};

#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    #[command(flatten)]
    pub server: ServerArg,

    /// A plain-text stream (the server can read it) instead of an
    /// end-to-end encrypted one.
    #[arg(long)]
    pub plain: bool,

    /// Idle time-to-live in seconds (the server's default when absent).
    #[arg(long, value_name = "S")]
    pub ttl: Option<u64>,

    /// Print the two links as one JSON object (`link`, `link_with_passphrase`,
    /// `stream`) instead of two lines.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: NewArgs) -> Result<(), ClientError> {
    let made = create(&args.server.url, args.plain, args.ttl, &[]).await?;
    print_links(&made, args.json)
}

/// A new stream: its links, with and without the passphrase.
pub struct Made {
    pub stream: String,
    pub link: String,
    pub link_with_passphrase: Option<String>,
}

/// Creates a private stream with these extra form fields.
pub async fn create(
    server: &str,
    plain: bool,
    ttl: Option<u64>,
    extra: &[(&str, String)],
) -> Result<Made, ClientError> {
    let target = Target::resolve("_", server)?;
    let api = Api::new(&target.base);
    let mut form: Vec<(&str, String)> = vec![("private", "true".into())];
    if let Some(ttl) = ttl {
        form.push(("ttl", ttl.to_string()));
    }
    form.extend(extra.iter().cloned());
    let passphrase = if plain {
        None
    } else {
        let mut bytes = [0u8; 18];
        getrandom(&mut bytes)?;
        let passphrase = encode_base64url(&bytes);
        let params = tokio::task::spawn_blocking({
            let passphrase = passphrase.clone();
            move || {
                let kdf = KdfParams::generate()?;
                let key = derive_key(&passphrase, &kdf)?;
                EncryptionParams::new(&kdf, &key)
            }
        })
        .await
        .map_err(|err| ClientError::Failed(err.to_string()))??;
        form.extend([
            ("encrypted", "true".to_owned()),
            ("kdf", params.kdf),
            ("salt", params.salt),
            ("iterations", params.iterations.to_string()),
            ("check", params.check),
        ]);
        Some(passphrase)
    };
    let info = api.create(&form).await?;
    let link = Link::pinned(&info, passphrase.as_deref());
    Ok(Made {
        stream: info.stream.to_string(),
        link: Target::url(api.base(), &link.without_secret()),
        link_with_passphrase: passphrase.map(|_| Target::url(api.base(), &link)),
    })
}

fn getrandom(bytes: &mut [u8]) -> Result<(), ClientError> {
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_fill_bytes(bytes)
        .map_err(|err| ClientError::Failed(format!("no secure randomness: {err}")))
}

/// Prints the links: the one to share where the passphrase travels
/// separately, then the one with the passphrase.
pub fn print_links(made: &Made, json: bool) -> Result<(), ClientError> {
    if json {
        let value = serde_json::json!({
            "stream": made.stream,
            "link": made.link,
            "link_with_passphrase": made.link_with_passphrase,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{}", made.link);
    if let Some(with) = &made.link_with_passphrase {
        println!("{with}");
        eprintln!(
            "malten: the second link holds the passphrase: anyone who gets it can read and post"
        );
    }
    Ok(())
}
