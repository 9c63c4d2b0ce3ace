//! The examples every command's `--help` ends with (and its man page, and
//! nothing else): two or three real command lines each. `old` and `new`
//! stand for the two servers (ssh_config aliases, user@host or ssh:// URLs).

use clap::Command;

/// (command path, example lines)
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "migrate upgrade-path nextcloud 27.1.11 28.0.4",
            "migrate app plan nextcloud --from old --to new --domain cloud.example.net --src-root /var/www/nextcloud",
            "migrate copy old:/srv/media new:/srv/media --verify",
        ],
    ),
    (
        "upgrade-path",
        &[
            "migrate upgrade-path nextcloud 25.0.13 28.0.4",
            "migrate upgrade-path mastodon 4.1.2 4.3.0 --zero-downtime --fact postgresql-version=15",
        ],
    ),
    (
        "plugin",
        &[
            "migrate plugin list",
            "migrate plugin new gitea --dir ./gitea-plugin",
        ],
    ),
    (
        "plugin list",
        &[
            "migrate plugin list",
            "migrate plugin list --plugin-dir ./plugins --json",
        ],
    ),
    (
        "plugin new",
        &[
            "migrate plugin new gitea",
            "migrate plugin new gitea --dir ./gitea-plugin",
        ],
    ),
    (
        "plugin test",
        &[
            "migrate plugin test nextcloud",
            "migrate plugin test ./gitea-plugin/target/wasm32-wasip2/release/gitea.wasm",
        ],
    ),
    (
        "recipe",
        &["migrate recipe list", "migrate recipe show nextcloud"],
    ),
    (
        "recipe list",
        &["migrate recipe list", "migrate recipe list --json"],
    ),
    (
        "recipe show",
        &[
            "migrate recipe show nextcloud",
            "migrate recipe show mastodon",
        ],
    ),
    (
        "recipe check",
        &[
            "migrate recipe check recipes/nextcloud.toml",
            "migrate recipe check ./my-app.toml --json",
        ],
    ),
    (
        "copy",
        &[
            "migrate copy old:/srv/media new:/srv/media",
            "migrate copy old:/srv/media new:/srv/media --final --verify",
            "migrate copy old:/srv/media new:/srv/media --exclude cache/ --bwlimit 20M --dry-run",
        ],
    ),
    (
        "copy status",
        &["migrate copy status", "migrate copy status --wait"],
    ),
    (
        "copy cleanup",
        &["migrate copy cleanup", "migrate copy cleanup --purge new"],
    ),
    (
        "dns",
        &[
            "migrate dns plan --domain social.example.net --new-ip 203.0.113.7",
            "migrate dns cutover --domain social.example.net --dry-run",
        ],
    ),
    (
        "dns plan",
        &[
            "migrate dns plan --domain social.example.net --new-ip 203.0.113.7",
            "migrate dns plan --domain social.example.net --new-ip 203.0.113.7 --provider desec --secret-file ~/.desec-token",
        ],
    ),
    (
        "dns lower",
        &[
            "migrate dns lower --domain social.example.net --dry-run",
            "migrate dns lower --domain social.example.net",
        ],
    ),
    (
        "dns wildcard",
        &[
            "migrate dns wildcard --domain social.example.net --dry-run",
            "migrate dns wildcard --domain social.example.net",
        ],
    ),
    (
        "dns cutover",
        &[
            "migrate dns cutover --domain social.example.net --dry-run",
            "migrate dns cutover --domain social.example.net --now",
        ],
    ),
    (
        "dns restore",
        &[
            "migrate dns restore --domain social.example.net --dry-run",
            "migrate dns restore --domain social.example.net",
        ],
    ),
    (
        "dns verify",
        &[
            "migrate dns verify --domain social.example.net",
            "migrate dns verify --domain social.example.net --json",
        ],
    ),
    (
        "dns mail-check",
        &[
            "migrate dns mail-check --domain example.net --new-ip 203.0.113.7",
            "migrate dns mail-check --domain example.net --mail-host mail.example.net --new-ip 203.0.113.7",
        ],
    ),
    (
        "mail",
        &[
            "migrate mail sync --from imaps://old.example.net --to imaps://mail.example.net --users users.csv",
            "migrate mail cutover --domain example.net --mail-host mail.example.net --new-ip 203.0.113.7",
        ],
    ),
    (
        "mail sync",
        &[
            "migrate mail sync --from imaps://old.example.net --to imaps://mail.example.net --users users.csv --dry-run",
            "migrate mail sync --from imaps://old.example.net --to imaps://mail.example.net --users users.csv",
        ],
    ),
    (
        "mail users",
        &[
            "migrate mail users --users users.csv --config-import mailu-users.yaml",
            "MIGRATE_MAILU_TOKEN=… migrate mail users --users users.csv --mailu-api https://mail.example.net/api/v1 --dry-run",
        ],
    ),
    (
        "mail cutover",
        &[
            "migrate mail cutover --domain example.net --mail-host mail.example.net",
            "migrate mail cutover --domain example.net --mail-host mail.example.net --new-ip 203.0.113.7 --json",
        ],
    ),
    (
        "docker",
        &[
            "migrate docker ls old",
            "migrate docker volume old:nextcloud_data new:nextcloud_data --dry-run",
        ],
    ),
    (
        "docker ls",
        &["migrate docker ls old", "migrate docker ls new --json"],
    ),
    (
        "docker stop",
        &[
            "migrate docker stop old --project nextcloud",
            "migrate docker stop old --volume nextcloud_data",
        ],
    ),
    (
        "docker start",
        &[
            "migrate docker start new --project nextcloud",
            "migrate docker start new --container nextcloud-app-1 --timeout 300",
        ],
    ),
    (
        "docker scale-down",
        &[
            "migrate docker scale-down old --stack cloud_example_net",
            "migrate docker scale-down old --service cloud_example_net_app",
        ],
    ),
    (
        "docker scale-up",
        &[
            "migrate docker scale-up new --stack cloud_example_net",
            "migrate docker scale-up new --service cloud_example_net_app",
        ],
    ),
    (
        "docker owners",
        &[
            "migrate docker owners new nextcloud_data",
            "migrate docker owners new nextcloud_data --map-owner 991:1000",
        ],
    ),
    (
        "docker volume",
        &[
            "migrate docker volume old:nextcloud_data new:cloud_example_net_data --dry-run",
            "migrate docker volume old:nextcloud_data new --stop",
        ],
    ),
    (
        "docker db",
        &[
            "migrate docker db old new --engine postgres --db nextcloud --to-container nextcloud-db-1 --dry-run",
            "migrate docker db old new --engine mariadb --db wordpress --from-container wp-db-1 --to-container wp-db-1",
        ],
    ),
    (
        "docker root-move",
        &[
            "migrate docker root-move old new --dry-run",
            "migrate docker root-move old new --force",
        ],
    ),
    (
        "docker root-relocate",
        &[
            "migrate docker root-relocate old /mnt/bigdisk/docker --dry-run",
            "migrate docker root-relocate old /mnt/bigdisk/docker --fstab",
        ],
    ),
    (
        "docker daemon",
        &[
            "migrate docker daemon stop old",
            "migrate docker daemon start old",
        ],
    ),
    (
        "docker logs-check",
        &[
            "migrate docker logs-check new",
            "migrate docker logs-check new --container nextcloud-app-1 --tail 200",
        ],
    ),
    (
        "app",
        &[
            "migrate app plan nextcloud --from old --to new --domain cloud.example.net --src-root /var/www/nextcloud",
            "migrate app nextcloud --from old --to new --domain cloud.example.net --src-root /var/www/nextcloud",
            "migrate app --file migration.toml --dry-run",
        ],
    ),
    (
        "app plan",
        &[
            "migrate app plan nextcloud --from old --to new --domain cloud.example.net --src-root /var/www/nextcloud --format markdown",
            "migrate app plan --file migration.toml",
        ],
    ),
    (
        "app run",
        &[
            "migrate app run --file migration.toml --dry-run",
            "migrate app run --file migration.toml --yes",
        ],
    ),
    (
        "app status",
        &[
            "migrate app status --file migration.toml",
            "migrate app status --file migration.toml --report",
        ],
    ),
    (
        "app abort",
        &[
            "migrate app abort --file migration.toml --dry-run",
            "migrate app abort --file migration.toml",
        ],
    ),
    ("app list", &["migrate app list", "migrate app list --json"]),
    (
        "completions",
        &[
            "migrate completions bash > ~/.local/share/bash-completion/completions/migrate",
            "migrate completions fish > ~/.config/fish/completions/migrate.fish",
        ],
    ),
    (
        "man",
        &[
            "migrate man ~/.local/share/man/man1",
            "sudo migrate man /usr/local/share/man/man1",
        ],
    ),
];

/// The example lines of one command path (`""` is `migrate` itself).
pub fn of(path: &str) -> Option<&'static [&'static str]> {
    EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// `cmd` with "Examples:" appended to the help of it and every visible subcommand.
pub fn add(cmd: Command) -> Command {
    add_at(cmd, "")
}

fn add_at(mut cmd: Command, path: &str) -> Command {
    let subs: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for s in subs {
        let p = if path.is_empty() {
            s.clone()
        } else {
            format!("{path} {s}")
        };
        cmd = cmd.mut_subcommand(&s, |c| add_at(c, &p));
    }
    let Some(lines) = of(path) else {
        return cmd;
    };
    let before = cmd
        .get_after_help()
        .map(|h| format!("{h}\n\n"))
        .unwrap_or_default();
    let examples: String = lines.iter().map(|l| format!("\n  {l}")).collect();
    cmd.after_help(format!("{before}Examples:{examples}"))
}
