//! What a user meets first on Azure: logged out of the CLI, a subscription the credential does not
//! see, resource providers not registered, no location. Each is one line naming what to do, exit
//! code 2, before anything is touched (no mutating ARM call).
#![cfg(feature = "aks")]

#[path = "aks_support/mod.rs"]
mod aks_support;
mod common;

use std::process::Command;

use aks_support::FakeArm;
use common::*;

fn testbed() -> std::path::PathBuf {
    std::env::var_os("KAT_TEST_KUBECONFIG")
        .map(Into::into)
        .unwrap_or_else(|| "/nonexistent-testbed-kubeconfig".into())
}

fn kat(
    sb: &Sandbox,
    fake: &FakeArm,
    args: &[&str],
    tweak: impl FnOnce(&mut Command),
) -> (i32, String) {
    let mut c = sb.cmd(args);
    fake.apply(&mut c);
    c.env("KAT_AZURE_NO_IMDS", "1");
    tweak(&mut c);
    let out = c.output().expect("run kat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

const CONFIG: &str = "environment: azerr\nprovider:\n  name: aks\n  region: westeurope\n";

fn refused(fake: &FakeArm, code: i32, stderr: &str, wanted: &[&str]) {
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for w in wanted {
        assert!(stderr.contains(w), "lacks {w:?}: {stderr}");
    }
    assert!(
        fake.mutating_calls().is_empty(),
        "{:#?}",
        fake.mutating_calls()
    );
    assert!(fake.resources_of("azerr").is_empty());
}

#[test]
fn logged_out_cli_is_one_line_before_anything_is_touched() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(CONFIG);
    let (code, stderr) = kat(&sb, &fake, &["up"], |c| {
        c.env("FAKE_AZ_LOGGED_OUT", "1");
    });
    refused(&fake, code, &stderr, &["az login", "Azure CLI"]);
    assert!(
        fake.calls().is_empty(),
        "no ARM call without a token: {:#?}",
        fake.calls()
    );
}

#[test]
fn unknown_or_missing_subscription_is_one_line() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new(CONFIG);
    let (code, stderr) = kat(&sb, &fake, &["up"], |c| {
        c.env(
            "AZURE_SUBSCRIPTION_ID",
            "11111111-2222-3333-4444-555555555555",
        );
    });
    refused(
        &fake,
        code,
        &stderr,
        &[
            "provider.aks.subscription",
            "11111111-2222-3333-4444-555555555555",
        ],
    );

    let (code, stderr) = kat(&sb, &fake, &["up"], |c| {
        c.env_remove("AZURE_SUBSCRIPTION_ID");
    });
    refused(
        &fake,
        code,
        &stderr,
        &["provider.aks.subscription", "AZURE_SUBSCRIPTION_ID"],
    );
}

#[test]
fn unregistered_namespaces_are_named_with_the_command_that_registers_them() {
    let fake = FakeArm::start_with(
        &testbed(),
        &[
            "--unregistered",
            "Microsoft.ContainerService",
            "--unregistered",
            "Microsoft.ContainerRegistry",
        ],
    );
    let sb = Sandbox::new(CONFIG);
    let (code, stderr) = kat(&sb, &fake, &["up"], |_| {});
    refused(
        &fake,
        code,
        &stderr,
        &[
            "Microsoft.ContainerService",
            "Microsoft.ContainerRegistry",
            "az provider register --namespace Microsoft.ContainerService",
        ],
    );
    assert!(!stderr.contains("Microsoft.Network"), "{stderr}");
}

#[test]
fn a_location_is_required_and_checked() {
    let fake = FakeArm::start(&testbed());
    let sb = Sandbox::new("environment: azerr\nprovider:\n  name: aks\n");
    let (code, stderr) = kat(&sb, &fake, &["up"], |_| {});
    refused(&fake, code, &stderr, &["provider.region"]);
    let sb = Sandbox::new("environment: azerr\nprovider:\n  name: aks\n  region: atlantis\n");
    let (code, stderr) = kat(&sb, &fake, &["up"], |_| {});
    refused(&fake, code, &stderr, &["atlantis"]);
}
