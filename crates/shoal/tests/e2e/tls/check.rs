//! `shoal check` on a config with https listeners: certificate files are resolved against
//! the config file's directory and checked, errors name the key and its line.

use super::*;
use crate::cli::shoal;

/// Runs `shoal check --config PATH`: (exit code, stdout, stderr).
async fn check(path: &Path) -> (Option<i32>, String, String) {
    let path = path.to_str().expect("utf-8 path");
    let output = tokio::time::timeout(WAIT, shoal(&["check", "--config", path]).output())
        .await
        .expect("shoal check finishes")
        .expect("spawn shoal");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An https listener whose certificate files are `shop.pem` and `key` (relative paths),
/// the `key` line being line 8.
fn config(key: &str) -> String {
    format!(
        "[listeners.secure]\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\n\
         [listeners.secure.tls]\n\
         certificates = [{{ cert = \"certs/shop.pem\",\n\
         \x20                 key = \"certs/wild.key\" }},\n\
         \x20               {{ cert = \"certs/wild.pem\", key = \"{key}\" }}]\n\n\
         [[listeners.secure.routes]]\nupstream = \"api\"\n\n\
         [upstreams.api]\nbackends = [\"127.0.0.1:9001\"]\n"
    )
}

#[tokio::test]
async fn check_resolves_certificate_files_next_to_the_config_and_names_bad_ones() {
    let pki = Pki::new("tls-check");
    std::fs::create_dir_all(pki.dir.path().join("certs")).expect("certs dir");
    let shop = pki.ca.issue(&["shop.example.com"]);
    let wild = pki.ca.issue(&["*.example.com"]);
    pki.dir.write("certs/shop.pem", &shop.cert_pem);
    pki.dir.write("certs/wild.pem", &wild.cert_pem);
    pki.dir.write("certs/wild.key", &wild.key_pem);

    // certificates[0] pairs shop.pem with wild.key (line 7); certificates[1] names a key
    // that is not there (line 8).
    let path = pki.dir.write("shoal.toml", &config("certs/none.key"));
    let (code, _, stderr) = check(&path).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("listeners.secure.tls.certificates[0].key (line 7): the private key in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("listeners.secure.tls.certificates[1].key (line 8): cannot read"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problem(s)"), "{stderr}");

    pki.dir.write("certs/shop.key", &shop.key_pem);
    let fixed = config("certs/wild.key").replacen("certs/wild.key", "certs/shop.key", 1);
    let path = pki.dir.write("shoal.toml", &fixed);
    let (code, stdout, stderr) = check(&path).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("127.0.0.1:8443 (https)"), "{stdout}");
    assert!(stdout.contains("certs/shop.pem"), "{stdout}");
}
