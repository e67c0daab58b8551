//! The two network paths outside the host: the vendor to the SSH port, this host to the
//! database.

use super::{Check, CheckId, Status};
use crate::cloud::Cloud;
use crate::inspect::HostState;
use crate::port::PortCheck;
use crate::profile::Profile;

pub(super) fn checks(
    state: &HostState,
    profile: &Profile,
    db_results: &[(String, PortCheck)],
) -> Vec<Check> {
    let ports = state.ssh_ports();
    let ips = profile.cidrs().join(" ");
    let (detail, fix) = outside_rule(state.facts.cloud, profile, ports[0], &ips);
    let detail = format!("{detail} ({})", profile.list_origin());
    let vendor = Check::new(CheckId::PortVendorToSsh, Status::Manual, detail, Some(fix));
    let db = if db_results.is_empty() {
        Check::new(
            CheckId::PortSshToDb,
            Status::Manual,
            "no database target given (the wizard's Account screen or port checklist, or \
                --permit-open / --db HOST:PORT); check it with `bastion-wizard check-port \
                HOST:PORT`",
            Some("bastion-wizard check-port DBHOST:PORT".into()),
        )
    } else {
        let all_ok = db_results.iter().all(|(_, r)| r.is_reachable());
        let detail = db_results
            .iter()
            .map(|(t, r)| r.summary(t))
            .collect::<Vec<_>>()
            .join("; ");
        Check::new(
            CheckId::PortSshToDb,
            if all_ok { Status::Ok } else { Status::Fail },
            detail,
            (!all_ok)
                .then(|| "allow this host in the database's firewall / security group".to_string()),
        )
    };
    vec![vendor, db]
}

/// What to verify outside the host, in this cloud's own words where DMI names the cloud.
/// A load balancer in front of sshd would hide the vendor's addresses and break
/// `from=`/AllowUsers rules, so the vendor must reach the host directly.
fn outside_rule(cloud: Option<Cloud>, profile: &Profile, port: u16, ips: &str) -> (String, String) {
    let each = |f: &dyn Fn(&str) -> String| {
        profile
            .cidrs()
            .iter()
            .map(|cidr| f(cidr))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match cloud {
        Some(Cloud::Aws) => (
            format!(
                "this host runs on AWS: its security group must allow inbound TCP {port} from \
                {ips} (EC2 → Instances → this instance → Security → Security groups → Edit \
                inbound rules → Add rule: SSH, source each address or range as listed); the vendor must reach the \
                instance directly, not through a load balancer; this cannot be seen from inside \
                the host"
            ),
            each(&|cidr| {
                format!(
                    "aws ec2 authorize-security-group-ingress --group-id SG_ID \
                --protocol tcp --port {port} --cidr {cidr}"
                )
            }),
        ),
        Some(Cloud::Gcp) => (
            format!(
                "this host runs on Google Cloud: a VPC firewall rule must allow ingress TCP \
                {port} from {ips} to this instance; this cannot be seen from inside the host"
            ),
            format!(
                "gcloud compute firewall-rules create allow-{}-ssh --direction=INGRESS \
                    --allow=tcp:{port} --source-ranges={} --target-tags=TAG_OF_THIS_INSTANCE",
                profile.user,
                profile.cidrs().join(",")
            ),
        ),
        Some(Cloud::Azure) => (
            format!(
                "this host runs on Azure: its network security group must allow inbound TCP \
                {port} from {ips}; this cannot be seen from inside the host"
            ),
            format!(
                "az network nsg rule create --resource-group RG --nsg-name NSG --name allow-{}-ssh \
                    --priority 100 --direction Inbound --access Allow --protocol Tcp \
                    --destination-port-ranges {port} --source-address-prefixes {}",
                profile.user,
                profile.cidrs().join(" ")
            ),
        ),
        None => (
            format!(
                "allow inbound TCP {port} from {ips} in every firewall and security group in \
                front of this host, with no load balancer between the vendor and sshd (it would \
                hide the vendor's addresses); this cannot be seen from inside the host"
            ),
            format!("in your cloud or network firewall: allow TCP {port} from each of {ips}"),
        ),
    }
}
