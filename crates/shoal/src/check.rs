//! `shoal check`: validate a config file.

use std::path::Path;

use crate::{EXIT_BAD_CONFIG, EXIT_OK};

pub fn check(path: &Path) -> u8 {
    match crate::load_config(path) {
        Ok(config) => {
            println!("{}: ok", path.display());
            print!("{}", shoal_config::summary(&config));
            EXIT_OK
        }
        Err(errors) => {
            eprintln!("{}: {} problem(s)", path.display(), errors.0.len());
            eprintln!("{errors}");
            EXIT_BAD_CONFIG
        }
    }
}
