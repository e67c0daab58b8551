//! The two network paths outside the host: the vendor to the SSH port, this host to the
//! database.

use super::{check, Check, CheckId, Status};
use crate::inspect::HostState;
use crate::port::PortCheck;
use crate::profile::Profile;

pub(super) fn checks(
    state: &HostState,
    profile: &Profile,
    db_results: &[(String, PortCheck)],
) -> Vec<Check> {
    let ports = state.ssh_ports();
    let ports_text = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let ips = profile
        .ips
        .iter()
        .map(|ip| format!("{ip}/32"))
        .collect::<Vec<_>>()
        .join(" ");
    let vendor = check(
        CheckId::PortVendorToSsh,
        Status::Manual,
        format!("{}'s IPs can reach SSH port {ports_text}", profile.name),
        format!("allow inbound TCP {ports_text} from {ips} in the firewall and security group (no load balancer); this cannot be seen from inside the host"),
        Some(format!("for example: ufw allow from {} to any port {}", profile.ips[0], ports[0])),
    );
    let db = if db_results.is_empty() {
        check(
            CheckId::PortSshToDb,
            Status::Manual,
            "This host can reach the database port",
            "no database target given (--permit-open or --db HOST:PORT); check it with `bastion-wizard check-port HOST:PORT`",
            Some("bastion-wizard check-port DBHOST:PORT".into()),
        )
    } else {
        let all_ok = db_results.iter().all(|(_, r)| r.is_reachable());
        let detail = db_results
            .iter()
            .map(|(t, r)| r.summary(t))
            .collect::<Vec<_>>()
            .join("; ");
        check(
            CheckId::PortSshToDb,
            if all_ok { Status::Ok } else { Status::Fail },
            "This host can reach the database port",
            detail,
            (!all_ok)
                .then(|| "allow this host in the database's firewall / security group".to_string()),
        )
    };
    vec![vendor, db]
}
