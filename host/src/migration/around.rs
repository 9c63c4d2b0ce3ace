//! What lives around the app on the source and moves with it, found when
//! the plan is built (one read-only script on each server) and added to
//! the plan as steps (steps/around.rs carries files, steps/toggle.rs
//! switches the source's schedules off for the window, steps/crontab.rs
//! carries a user's crontab lines):
//!
//! - the app's systemd units (discovery names them): carried and enabled
//!   before the destination starts with them;
//! - cron entries naming the app's directory (`/etc/cron.d` files, the
//!   crontab of the app's user and of www-data) and systemd timers whose
//!   service names it: commented out on the source with a marker when the
//!   window opens (restored by `migrate app abort`), carried and active on
//!   the destination before it starts;
//! - certbot's `live/`, `archive/` and `renewal/` entries for the domain
//!   (live/'s symlinks kept): carried before the window, so the destination
//!   can serve the production name's certificate before DNS moves;
//! - the nginx or Apache vhost for the domain: carried when the destination
//!   runs the same web server (its config tested there), else named for a
//!   person;
//! - outgoing mail: the app's SMTP settings named in the plan, and a check
//!   that the domain's SPF lets the destination send (`dns mail-check`).

use migrate_remote::sh_quote;

use super::definition::Migration;
use super::plan::{Action, Phase, Plan, PlanStep, Risk, Where};
use super::sides::Sides;
use crate::plugin::Side;

/// The marker put in front of a cron line disabled for the window.
pub const MARK: &str = "#migrate-disabled ";

/// Read-only: prints `CRON_FILE path`, `CRONTAB user`, `TIMER timer|service`,
/// `CERT path`, `NGINX path` / `APACHE path` (the enabled file and, for a
/// symlink, its target), `SMTP key=value` (never a password).
const FINDER: &str = r#"[ -d "$root" ] || exit 0
for f in /etc/cron.d/*; do
  [ -f "$f" ] || continue
  grep -v '^[[:space:]]*#' "$f" | grep -qF -- "$root" && echo "CRON_FILE $f"
done
if command -v crontab >/dev/null 2>&1; then
  for u in $(stat -c %U "$root") www-data; do
    crontab -l -u "$u" 2>/dev/null | sed "s/^$mark//" | grep -v '^[[:space:]]*#' | grep -qF -- "$root" && echo "CRONTAB $u"
  done | sort -u
fi
for t in /etc/systemd/system/*.timer; do
  [ -f "$t" ] || continue
  s=$(sed -n 's/^Unit=//p' "$t" | tail -n 1); [ -n "$s" ] || s=$(basename "$t" .timer).service
  for d in /etc/systemd/system /lib/systemd/system; do
    [ -f "$d/$s" ] || continue
    grep -qF -- "$root" "$d/$s" && echo "TIMER $t|$d/$s"
    break
  done
done
le=/etc/letsencrypt
if [ -d "$le/live/$domain" ]; then
  echo "CERT $le/live/$domain"
  [ -d "$le/archive/$domain" ] && echo "CERT $le/archive/$domain"
  [ -f "$le/renewal/$domain.conf" ] && echo "CERT $le/renewal/$domain.conf"
fi
names() { awk -v d="$domain" -v k1="$1" -v k2="$2" '$1 == k1 || $1 == k2 { for (i = 2; i <= NF; i++) { t = $i; sub(/;$/, "", t); if (t == d) f = 1 } } END { exit !f }' "$3"; }
for f in /etc/nginx/sites-enabled/* /etc/nginx/conf.d/*.conf; do
  [ -f "$f" ] && names server_name server_name "$f" || continue
  [ -L "$f" ] && echo "NGINX $(readlink -f "$f")"
  echo "NGINX $f"
done
for f in /etc/apache2/sites-enabled/*; do
  [ -f "$f" ] && names ServerName ServerAlias "$f" || continue
  [ -L "$f" ] && echo "APACHE $(readlink -f "$f")"
  echo "APACHE $f"
done
[ -f "$root/.env.production" ] && grep -E '^(SMTP_SERVER|SMTP_PORT|SMTP_FROM_ADDRESS|SMTP_DELIVERY_METHOD)=' "$root/.env.production" | sed 's/^/SMTP /'
[ -f "$root/config/config.php" ] && grep -E "^[[:space:]]*'mail_(smtpmode|smtphost|smtpport|from_address|domain)'" "$root/config/config.php" | sed -e "s/^[[:space:]]*'\([a-z_]*\)'[[:space:]]*=>[[:space:]]*'\{0,1\}\([^',]*\)'\{0,1\},*$/\1=\2/" -e 's/^/SMTP /'
true
"#;

/// What the finder saw around one app.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub cron_files: Vec<String>,
    pub crontabs: Vec<String>,
    /// (timer file, its service file)
    pub timers: Vec<(String, String)>,
    pub certs: Vec<String>,
    pub nginx: Vec<String>,
    pub apache: Vec<String>,
    pub smtp: Vec<String>,
}

pub fn parse(out: &str) -> Found {
    let mut f = Found::default();
    for line in out.lines() {
        let Some((tag, v)) = line.split_once(' ') else {
            continue;
        };
        let v = v.to_string();
        match tag {
            "CRON_FILE" => f.cron_files.push(v),
            "CRONTAB" => f.crontabs.push(v),
            "TIMER" => {
                if let Some((t, s)) = v.split_once('|') {
                    f.timers.push((t.to_string(), s.to_string()));
                }
            }
            "CERT" => f.certs.push(v),
            "NGINX" if !f.nginx.contains(&v) => f.nginx.push(v),
            "APACHE" if !f.apache.contains(&v) => f.apache.push(v),
            "SMTP" => f.smtp.push(v),
            _ => {}
        }
    }
    f
}

/// The finder for this migration's source, values quoted into it.
pub fn script(root: &str, domain: &str) -> String {
    format!(
        "root={}; domain={}; mark={}\n{FINDER}",
        sh_quote(root),
        sh_quote(domain),
        sh_quote(MARK)
    )
}

fn step(id: &str, phase: Phase, on: Where, risk: Risk, title: String, action: Action) -> PlanStep {
    PlanStep {
        id: id.into(),
        phase,
        on,
        title,
        risk,
        origin: "migrate".into(),
        action,
    }
}

fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn quoted(paths: &[String]) -> String {
    paths
        .iter()
        .map(|p| sh_quote(p))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Comment out (or back in) the lines naming the app in each cron file,
/// keeping the files' owners and modes (written in place with `cat >`).
fn cron_files_script(files: &[String], root: &str, disable: bool) -> String {
    let edit = if disable {
        format!(
            "awk -v r={r} -v m={m} 'index($0, r) && $0 !~ /^[[:space:]]*#/ {{ print m $0; next }} {{ print }}' \"$f\"",
            r = sh_quote(root),
            m = sh_quote(MARK)
        )
    } else {
        format!("sed 's/^{MARK}//' \"$f\"")
    };
    format!(
        "for f in {}; do [ -f \"$f\" ] || continue; {edit} > \"$f.migrate-tmp\" && cat \"$f.migrate-tmp\" > \"$f\"; rm -f \"$f.migrate-tmp\"; done",
        quoted(files)
    )
}

fn crontab_script(user: &str, root: &str, disable: bool) -> String {
    let edit = if disable {
        format!(
            "awk -v r={r} -v m={m} 'index($0, r) && $0 !~ /^[[:space:]]*#/ {{ print m $0; next }} {{ print }}'",
            r = sh_quote(root),
            m = sh_quote(MARK)
        )
    } else {
        format!("sed 's/^{MARK}//'")
    };
    format!(
        "t=$(crontab -l -u {u}) && printf '%s\\n' \"$t\" | {edit} | crontab -u {u} -",
        u = sh_quote(user)
    )
}

/// Look around the app on both servers and add what was found to `plan`.
pub fn add(plan: &mut Plan, sides: &Sides) -> Result<(), String> {
    let mig = plan.migration.clone();
    let root = &mig.source.root;
    if root.is_empty() {
        return Ok(());
    }
    let found = sides
        .sh(
            Side::Source,
            "looking at what lives around the app",
            &script(root, &mig.domain),
        )
        .map(|o| parse(&o))
        .map_err(|e| format!("looking around the app on the source: {e}"))?;
    let proxies = sides
        .sh(
            Side::Destination,
            "looking for the web server",
            "for d in nginx apache2; do [ -d /etc/$d ] && echo $d; done; true",
        )
        .map_err(|e| format!("looking for the web server on the destination: {e}"))?;
    insert(plan, &mig, &found, &proxies);
    Ok(())
}

/// Put the steps for `found` into `plan` where they belong (no I/O).
pub fn insert(plan: &mut Plan, mig: &Migration, found: &Found, dst_proxies: &str) {
    let root = &mig.source.root;
    let mut window = Vec::new(); // right after the source stops
    let mut before_start = Vec::new(); // right before the destination starts
    let mut before_window = Vec::new(); // before the source stops
    let mut finish = Vec::new();

    // Schedules off on the source while the window is open.
    let mut off = Vec::new();
    let mut on = Vec::new();
    let mut what = Vec::new();
    if !found.cron_files.is_empty() {
        off.push(cron_files_script(&found.cron_files, root, true));
        on.push(cron_files_script(&found.cron_files, root, false));
        what.push(format!(
            "cron lines naming {root} in {}",
            found.cron_files.join(", ")
        ));
    }
    for u in &found.crontabs {
        off.push(crontab_script(u, root, true));
        on.push(crontab_script(u, root, false));
        what.push(format!("{u}'s crontab lines naming {root}"));
    }
    let timers: Vec<String> = found
        .timers
        .iter()
        .map(|(t, _)| base(t).to_string())
        .collect();
    if !timers.is_empty() {
        let names = timers
            .iter()
            .map(|t| sh_quote(t))
            .collect::<Vec<_>>()
            .join(" ");
        off.push(format!(
            "systemctl stop {names} && systemctl disable {names}"
        ));
        on.push(format!(
            "systemctl enable {names} && systemctl start {names}"
        ));
        what.push(format!("systemd timers {}", timers.join(", ")));
    }
    if !off.is_empty() {
        window.push(step(
            "disable-schedules-source",
            Phase::Cutover,
            Where::Source,
            Risk::Reversible,
            format!(
                "Disable on the source, while the window is open, the {} (commented with {:?}; `migrate app abort` restores them)",
                what.join("; "),
                MARK.trim()
            ),
            Action::Toggle {
                what: what.join("; "),
                script: off.join(" && "),
                undo: on.join(" && "),
            },
        ));
    }

    if !mig.source.units.is_empty() {
        let names: Vec<String> = mig.source.units.iter().map(|u| sh_quote(base(u))).collect();
        before_start.push(step(
            "carry-units",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Carry the app's systemd units ({}) to the destination and enable them there",
                mig.source
                    .units
                    .iter()
                    .map(|u| base(u))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::Around {
                what: "systemd units".into(),
                paths: mig.source.units.clone(),
                enable: Some(format!(
                    "systemctl daemon-reload && systemctl enable {}",
                    names.join(" ")
                )),
            },
        ));
    }
    if !found.cron_files.is_empty() {
        before_start.push(step(
            "carry-cron",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Carry the cron files naming the app ({}) to the destination, active there",
                found.cron_files.join(", ")
            ),
            Action::Around {
                what: "cron files".into(),
                paths: found.cron_files.clone(),
                enable: Some(cron_files_script(&found.cron_files, root, false)),
            },
        ));
    }
    for u in &found.crontabs {
        before_start.push(step(
            &format!("carry-crontab-{u}"),
            Phase::Cutover,
            Where::Both,
            Risk::Reversible,
            format!("Add {u}'s crontab lines naming the app to {u}'s crontab on the destination"),
            Action::Crontab {
                user: u.clone(),
                needle: root.clone(),
            },
        ));
    }
    if !found.timers.is_empty() {
        let paths: Vec<String> = found
            .timers
            .iter()
            .flat_map(|(t, s)| [t.clone(), s.clone()])
            .collect();
        let names = timers
            .iter()
            .map(|t| sh_quote(t))
            .collect::<Vec<_>>()
            .join(" ");
        before_start.push(step(
            "carry-timers",
            Phase::Cutover,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Carry the systemd timers naming the app ({}) to the destination and enable them",
                timers.join(", ")
            ),
            Action::Around {
                what: "systemd timers".into(),
                paths,
                enable: Some(format!(
                    "systemctl daemon-reload && systemctl enable {names} && systemctl start {names}"
                )),
            },
        ));
    }
    if !found.certs.is_empty() {
        before_window.push(step(
            "carry-certificates",
            Phase::Prepare,
            Where::Destination,
            Risk::Reversible,
            format!(
                "Carry certbot's certificate for {} (live/ with its symlinks, archive/, renewal/) to the destination, so it can serve the production name before DNS moves",
                mig.domain
            ),
            Action::Around {
                what: "certificate files".into(),
                paths: found.certs.clone(),
                enable: None,
            },
        ));
    }
    for (kind, files, test) in [
        (
            "nginx",
            &found.nginx,
            "nginx -t && { systemctl reload nginx 2>/dev/null || nginx -s reload; }",
        ),
        (
            "apache2",
            &found.apache,
            "apache2ctl configtest && { systemctl reload apache2 2>/dev/null || apache2ctl graceful; }",
        ),
    ] {
        if files.is_empty() {
            continue;
        }
        if dst_proxies.lines().any(|l| l.trim() == kind) {
            before_start.push(step(
                &format!("carry-vhost-{kind}"),
                Phase::Cutover,
                Where::Destination,
                Risk::Reversible,
                format!(
                    "Carry the {kind} site for {} ({}) to the destination, test its config and reload it",
                    mig.domain,
                    files.join(", ")
                ),
                Action::Around {
                    what: format!("{kind} site files"),
                    paths: files.clone(),
                    enable: Some(test.into()),
                },
            ));
        } else {
            finish.push(step(
                &format!("vhost-{kind}"),
                Phase::Finish,
                Where::Destination,
                Risk::ReadOnly,
                format!(
                    "Serve {} on the destination as the source's {kind} does ({})",
                    mig.domain,
                    files.join(", ")
                ),
                Action::Manual {
                    text: format!(
                        "The destination runs no {kind}: set up its web server for {} as the source's {kind} site does ({}).",
                        mig.domain,
                        files.join(", ")
                    ),
                },
            ));
        }
    }
    if !found.smtp.is_empty() {
        plan.notes.push(format!(
            "Outgoing mail: the app sends through {} (its own settings, carried with it); the receiving side judges the destination's address by the domain's SPF.",
            found.smtp.join(", ")
        ));
        let ip = mig
            .dns
            .as_ref()
            .and_then(|d| d.to.first().cloned())
            .unwrap_or_else(|| "DESTINATION_ADDRESS".into());
        finish.push(step(
            "mail-check",
            Phase::Finish,
            Where::Operator,
            Risk::ReadOnly,
            format!(
                "Check that mail from {} may come from the destination (SPF, and the PTR of its address)",
                mig.domain
            ),
            Action::Manual {
                text: format!(
                    "migrate dns mail-check --domain {} --new-ip {ip}",
                    mig.domain
                ),
            },
        ));
    }

    let at = |plan: &Plan, id: &str| plan.steps.iter().position(|s| s.id == id);
    if let Some(i) = at(plan, "stop-source") {
        plan.steps.splice(i + 1..i + 1, window);
    }
    let start = at(plan, "start-destination").unwrap_or(plan.steps.len());
    plan.steps.splice(start..start, before_start);
    let cut = plan
        .steps
        .iter()
        .position(|s| s.phase >= Phase::Cutover)
        .unwrap_or(plan.steps.len());
    plan.steps.splice(cut..cut, before_window);
    plan.steps.extend(finish);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finders_lines_are_read() {
        let f = parse(
            "CRON_FILE /etc/cron.d/nextcloud\nCRONTAB www-data\nTIMER /etc/systemd/system/nc.timer|/etc/systemd/system/nc.service\nCERT /etc/letsencrypt/live/a.test\nCERT /etc/letsencrypt/renewal/a.test.conf\nNGINX /etc/nginx/sites-available/a\nNGINX /etc/nginx/sites-enabled/a\nSMTP SMTP_SERVER=smtp.example.net\n",
        );
        assert_eq!(f.cron_files, ["/etc/cron.d/nextcloud"]);
        assert_eq!(f.crontabs, ["www-data"]);
        assert_eq!(f.timers[0].1, "/etc/systemd/system/nc.service");
        assert_eq!(f.certs.len(), 2);
        assert_eq!(f.nginx.len(), 2);
        assert_eq!(f.smtp, ["SMTP_SERVER=smtp.example.net"]);
    }

    #[test]
    fn cron_lines_are_marked_and_unmarked_by_the_same_marker() {
        let files = vec!["/etc/cron.d/x".to_string()];
        let off = cron_files_script(&files, "/srv/a b", true);
        assert!(off.contains("'/srv/a b'") && off.contains(MARK), "{off}");
        let on = cron_files_script(&files, "/srv/a b", false);
        assert!(on.contains(&format!("s/^{MARK}//")), "{on}");
    }
}
