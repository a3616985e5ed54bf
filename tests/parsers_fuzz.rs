//! Arbitrary bytes never panic the parsers: every input gives data or an error.

use std::path::Path;

use ifru::data::{
    DelimitedOptions, ValueColumn, delimited, forget, ifru_folder, lightgcn, movielens,
};
use proptest::prelude::*;

fn all_parsers(bytes: &[u8]) {
    let p = Path::new("fuzz");
    let _ = ifru_folder::parse_table(p, bytes);
    let _ = movielens::parse_bytes(p, bytes);
    let _ = lightgcn::parse_bytes(p, bytes);
    let _ = forget::parse_forget(p, bytes);
    for opts in [
        DelimitedOptions::default(),
        DelimitedOptions {
            delimiter: Some(",".into()),
            header: Some(true),
            value: ValueColumn::Label,
        },
        DelimitedOptions {
            delimiter: Some("::".into()),
            header: Some(false),
            value: ValueColumn::Rating,
        },
        DelimitedOptions {
            delimiter: Some(" ".into()),
            header: None,
            value: ValueColumn::None,
        },
    ] {
        let _ = delimited::parse_bytes(p, bytes, &opts);
    }
}

/// Text made of the characters these formats use, so parsers get past their first checks.
fn near_valid() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("user,item,label".to_string()),
        Just("user,item".to_string()),
        "[0-9]{1,11},[0-9]{1,11},[0-9.e-]{0,4}",
        "[0-9a-z\"]{0,5}[,\t;| ]{1,2}[0-9a-z\"]{0,5}([,\t: ]{1,2}[0-9na.\"]{0,4}){0,3}",
        "[0-9 ]{0,30}",
        "[\\x00-\\x7f\u{fffd}]{0,20}",
    ];
    prop::collection::vec(line, 0..8).prop_map(|ls| ls.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        all_parsers(&bytes);
    }

    #[test]
    fn near_valid_text_never_panics(text in near_valid()) {
        all_parsers(text.as_bytes());
        let mut crlf = text.replace('\n', "\r\n").into_bytes();
        crlf.insert(0, 0xEF);
        all_parsers(&crlf);
    }
}
