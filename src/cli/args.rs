use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use kat_provider::ProviderName;

use crate::engine::Selection;
use crate::ops::Overrides;
use crate::ui::{OutputMode, Verbosity};

/// Build a complete, reproducible Kubernetes environment in one command, and tear it down again.
#[derive(Debug, Parser)]
#[command(name = "kat", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file [default: ./kat.yaml when present]
    #[arg(long, global = true, env = "KAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Environment name [default: `environment` from the config, else `default`]
    #[arg(
        long = "env",
        short = 'e',
        global = true,
        env = "KAT_ENV",
        value_name = "NAME"
    )]
    pub env: Option<String>,
    /// Provider (`kat providers` lists them)
    #[arg(long, global = true, env = "KAT_PROVIDER", value_name = "NAME", value_parser = parse_provider)]
    pub provider: Option<ProviderName>,
    /// Blueprint: a built-in name (`kat blueprints`) or a path
    #[arg(long, global = true, env = "KAT_BLUEPRINT", value_name = "NAME|PATH")]
    pub blueprint: Option<String>,
    /// Cloud region (eks) or location (aks)
    #[arg(long, global = true, env = "KAT_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Kubeconfig context (kubeconfig provider)
    #[arg(long, global = true, env = "KAT_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// Directory of environment journals [default: `state.dir` from the config, else .kat]
    #[arg(long, global = true, env = "KAT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format (`yaml`: `kat status` and `kat output` only)
    #[arg(
        long,
        short = 'o',
        global = true,
        env = "KAT_OUTPUT",
        value_enum,
        default_value = "text"
    )]
    pub output: OutputMode,
    /// More detail (debug logs)
    #[arg(long, short = 'v', global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Only failures and the summary
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Use only the artifacts of `--bundle` (a workshop room without network)
    #[arg(long, global = true, requires = "bundle", env = "KAT_OFFLINE")]
    pub offline: bool,
    /// Bundle directory written by `kat fetch`
    #[arg(long, global = true, env = "KAT_BUNDLE", value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Set a blueprint value (repeatable): `--set api_replicas=3`; the value is read as YAML
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, serde_json::Value)>,
    /// Take over fields that another field manager owns (server-side apply conflicts)
    #[arg(long, global = true)]
    pub force_conflicts: bool,
    /// Take over existing objects kat did not make for this environment (made by hand or by
    /// another environment) instead of refusing; `down` gives them back rather than deleting them
    #[arg(long, global = true, env = "KAT_ADOPT")]
    pub adopt: bool,
    /// Do not ask for confirmation (`down` on a terminal asks)
    #[arg(long, short = 'y', global = true, env = "KAT_YES")]
    pub yes: bool,
}

fn parse_set(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    let value = serde_yaml_ng::from_str(v).unwrap_or(serde_json::Value::String(v.to_string()));
    Ok((k.trim().to_string(), value))
}

fn parse_provider(s: &str) -> Result<ProviderName, String> {
    s.parse()
}

impl GlobalArgs {
    pub fn verbosity(&self) -> Verbosity {
        if self.verbose {
            Verbosity::Verbose
        } else if self.quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }

    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            env: self.env.clone(),
            provider: self.provider,
            blueprint: self.blueprint.clone(),
            region: self.region.clone(),
            context: self.context.clone(),
            state_dir: self.state_dir.clone(),
            offline_bundle: self.offline.then(|| self.bundle.clone()).flatten(),
            force_conflicts: self.force_conflicts,
            adopt: self.adopt,
            force_foreign: false,
            purge: false,
            values: self.set.clone(),
            ttl: None,
            subscription: None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build (or converge) the environment
    Up(UpFlags),
    /// Tear the environment down; ends with a sweep for anything still tagged
    Down(DownFlags),
    /// Show what `up` (or `down` with --destroy) would change, touching nothing
    Plan {
        #[command(flatten)]
        select: SelectFlags,
        /// Plan `down` instead of `up`
        #[arg(long)]
        destroy: bool,
    },
    /// The environment's stages and outputs, checked live (`-o json|yaml` for scripts)
    Status {
        /// A fleet: only this member (`07` or `demo-07`)
        #[arg(long, value_name = "MEMBER")]
        member: Option<String>,
    },
    /// One recorded output, raw, for scripts: `kat output kubeconfig.path` (all of them without
    /// NAME; `-o json|yaml` for a document)
    Output {
        /// A dotted name: `kubeconfig.path`, `cluster.endpoint`, `database.host`,
        /// `registry.url`, `endpoints.ingress.url`
        name: Option<String>,
    },
    /// Write a commented kat.yaml to start from
    Init {
        /// Overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// The providers and whether this binary includes them
    Providers,
    /// Download every addon artifact into a bundle for `up --offline --bundle DIR`
    Fetch,
    /// The built-in blueprints
    Blueprints,
    /// The images the blueprint runs: source, pinned digest, and where each copy stands
    /// (missing, mirrored, stale) in the environment's registry
    Images,
    /// Move kat.lock's pins on purpose
    Lock {
        /// Pin every image at the digest its tag names now (`up` then mirrors those)
        #[arg(long)]
        update_images: bool,
    },
    /// Write the blueprint's rendered manifests to a directory, touching no cluster
    Render {
        /// Output directory
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Print the kubeconfig path of the environment (`export KUBECONFIG=$(kat kubeconfig)`)
    Kubeconfig {
        /// Print a kubeconfig whose credentials come from the cloud CLI each time (an exec plugin,
        /// e.g. `aws eks get-token`) instead of the token kat minted
        #[arg(long)]
        exec: bool,
        /// Merge the environment's context into your kubeconfig (`$KUBECONFIG`'s first file, else
        /// ~/.kube/config; created with mode 0600) and make it current
        #[arg(long)]
        merge: bool,
    },
    /// Find environments by their tags alone (no state), list them with age, owner and expiry, and
    /// tear the expired ones down (`--provider` and `--region` say where to look)
    Reap {
        /// Also reap environments created longer ago than this (`6h`), whatever their expiry
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        older_than: Option<Duration>,
        /// List what would be reaped and touch nothing
        #[arg(long)]
        dry_run: bool,
        /// The Azure subscription to look in (aks) [default: `provider.aks.subscription`, else
        /// AZURE_SUBSCRIPTION_ID]
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
    },
    /// Draw the environment's last `up` or `down` as a self-contained HTML page (a timeline of its
    /// stages, the critical path, waits and retries, the summary); prints the file's path
    Report {
        /// `html`: the page; `svg`: the timeline alone
        #[arg(long, value_enum, default_value = "html")]
        format: crate::ops::ReportFormat,
        /// Where to write it [default: .kat/<env>/report.html or .svg]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of kat.yaml (for editors), or of the `-o json` events
    Schema {
        /// The schema of the events `up` and `down` print with `-o json` (one per line)
        #[arg(long)]
        events: bool,
    },
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Stage selection")]
pub struct SelectFlags {
    /// Run only these stages (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "STAGE")]
    pub only: Vec<String>,
    /// Leave these stages out
    #[arg(long, value_delimiter = ',', value_name = "STAGE")]
    pub skip: Vec<String>,
    /// Up: this stage and what it needs; down: this stage and what needs it
    #[arg(long, value_name = "STAGE")]
    pub until: Option<String>,
}

impl SelectFlags {
    pub fn selection(&self) -> Selection {
        Selection {
            only: self.only.clone(),
            skip: self.skip.clone(),
            until: self.until.clone(),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct UpFlags {
    #[command(flatten)]
    pub run: RunFlags,
    /// How long the environment is meant to live (`8h`): its resources carry `kat:expires-at`
    /// and `kat reap` removes it after [default: `ttl` in kat.yaml, else never]
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION", help_heading = "Run")]
    pub ttl: Option<Duration>,
    /// Make a fleet of N environments `<env>-01` … `<env>-NN` (1–99) [default: `fleet.count`]
    #[arg(long, value_name = "N", help_heading = "Run", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub count: Option<u8>,
}

#[derive(Debug, Clone, Args)]
pub struct DownFlags {
    #[command(flatten)]
    pub run: RunFlags,
    /// Delete kat's namespaces even when they hold objects kat did not make (`kat plan
    /// --destroy` lists them); without it `down` refuses and names them
    #[arg(long, help_heading = "Run")]
    pub force: bool,
    /// Also remove what the provider installed on the machine itself, when kat installed it
    /// (microk8s: `snap remove microk8s --purge`); said before it is done
    #[arg(long, help_heading = "Run")]
    pub purge: bool,
    /// A fleet: tear down only this member (`07` or `demo-07`)
    #[arg(long, value_name = "MEMBER", help_heading = "Run")]
    pub member: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Run")]
pub struct RunFlags {
    /// Print the plan and touch nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Budget for the whole run (`45m`, `1h 30m`); stages also have their own (timeouts in kat.yaml)
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// At most this many stages at once (0: as many as the graph allows)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub jobs: usize,
    /// Also write the run's report page (`kat report`) [default FILE: .kat/<env>/report.html]
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    pub report: Option<Option<PathBuf>>,
    // Last, so its heading does not carry over to the flags above.
    #[command(flatten)]
    pub select: SelectFlags,
}
