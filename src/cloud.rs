//! Which cloud this host runs in, from DMI (readable without root and without network),
//! so the port checklist can give that cloud's exact steps for the vendor's SSH rule.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Aws,
    Gcp,
    Azure,
}

/// The DMI strings that identify a cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dmi {
    pub sys_vendor: String,
    pub product_name: String,
    pub bios_version: String,
    pub chassis_asset_tag: String,
}

impl Dmi {
    pub fn read(dir: &Path) -> Dmi {
        let field = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Dmi {
            sys_vendor: field("sys_vendor"),
            product_name: field("product_name"),
            bios_version: field("bios_version"),
            chassis_asset_tag: field("chassis_asset_tag"),
        }
    }

    /// Nitro instances say "Amazon EC2"; older Xen ones carry "amazon" in the BIOS
    /// version. Azure marks its chassis with a fixed asset tag.
    pub fn cloud(&self) -> Option<Cloud> {
        const AZURE_TAG: &str = "7783-7084-3265-9085-8269-3286-77";
        if self.sys_vendor == "Amazon EC2"
            || self.bios_version.to_ascii_lowercase().contains("amazon")
        {
            Some(Cloud::Aws)
        } else if self.product_name == "Google Compute Engine" || self.sys_vendor == "Google" {
            Some(Cloud::Gcp)
        } else if self.chassis_asset_tag == AZURE_TAG {
            Some(Cloud::Azure)
        } else {
            None
        }
    }
}

pub fn detect() -> Option<Cloud> {
    Dmi::read(Path::new("/sys/class/dmi/id")).cloud()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_cloud_by_its_dmi_strings() {
        let nitro = Dmi {
            sys_vendor: "Amazon EC2".into(),
            product_name: "t3.micro".into(),
            ..Dmi::default()
        };
        assert_eq!(nitro.cloud(), Some(Cloud::Aws));
        let xen = Dmi {
            sys_vendor: "Xen".into(),
            bios_version: "4.11.amazon".into(),
            ..Dmi::default()
        };
        assert_eq!(xen.cloud(), Some(Cloud::Aws));
        let gce = Dmi {
            sys_vendor: "Google".into(),
            product_name: "Google Compute Engine".into(),
            ..Dmi::default()
        };
        assert_eq!(gce.cloud(), Some(Cloud::Gcp));
        let azure = Dmi {
            sys_vendor: "Microsoft Corporation".into(),
            product_name: "Virtual Machine".into(),
            chassis_asset_tag: "7783-7084-3265-9085-8269-3286-77".into(),
            ..Dmi::default()
        };
        assert_eq!(azure.cloud(), Some(Cloud::Azure));
        let hyperv = Dmi {
            sys_vendor: "Microsoft Corporation".into(),
            product_name: "Virtual Machine".into(),
            ..Dmi::default()
        };
        assert_eq!(hyperv.cloud(), None);
        assert_eq!(Dmi::default().cloud(), None);
    }
}
