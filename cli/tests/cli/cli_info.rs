//! `ifru info` names the adapter, and without any driver it fails with a message that
//! says how to get one.

use std::process::Command;

fn ifru() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ifru"))
}

#[test]
fn info_names_the_adapter() {
    let out = ifru().arg("info").output().expect("run ifru");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("adapter:") && stdout.contains("binding cap in use"),
        "{stdout}"
    );
}

#[test]
fn info_json_is_machine_readable() {
    let out = ifru().args(["info", "--json"]).output().expect("run ifru");
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        doc["adapter"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(doc["limits"]["binding_cap"].as_u64().is_some_and(|c| c > 0));
}

#[test]
fn no_driver_is_a_clear_error_not_a_panic() {
    let out = ifru()
        .arg("info")
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .output()
        .expect("run ifru");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("no Vulkan, Metal or DX12 adapter was found"),
        "{stderr}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            stderr.contains("apt-get install mesa-vulkan-drivers"),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A reader that goes away (`ifru info | head -0`) ends the command quietly, as with any
/// Unix tool, instead of a panic on the broken pipe.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = ifru()
        .arg("info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ifru");
    // Close the read end before the command has opened its device and printed anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn info_says_where_block_jacobi_is_built_and_the_variable_chooses() {
    for (value, place) in [("host", "host"), ("device", "device")] {
        let out = ifru()
            .arg("info")
            .env("IFRU_BLOCK_JACOBI", value)
            .output()
            .expect("run ifru");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value}: {stdout}");
        assert!(
            stdout.contains(&format!("block-Jacobi: built on the {place}")),
            "{value}: {stdout}"
        );
    }
    let out = ifru()
        .arg("info")
        .env("IFRU_BLOCK_JACOBI", "gpu")
        .output()
        .expect("run ifru");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("IFRU_BLOCK_JACOBI=\"gpu\": expected host or device"),
        "{stderr}"
    );
}
