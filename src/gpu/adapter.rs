//! Adapter choice: a real GPU beats a software rasteriser, and `IFRU_ADAPTER` can pick one by name.

use serde::Serialize;
use wgpu::{AdapterInfo, DeviceType};

/// Preference order of device types: discrete GPUs first, CPU (lavapipe, WARP) last.
fn type_rank(t: DeviceType) -> u8 {
    match t {
        DeviceType::DiscreteGpu => 0,
        DeviceType::IntegratedGpu => 1,
        DeviceType::VirtualGpu => 2,
        DeviceType::Other => 3,
        DeviceType::Cpu => 4,
    }
}

/// Picks the index of the adapter to use among `infos`.
///
/// With a `filter`, only adapters whose name or driver contains it (ignoring case) are
/// candidates. Among candidates the best device type wins; ties keep enumeration order.
pub fn choose_adapter(infos: &[AdapterInfo], filter: Option<&str>) -> Result<usize, String> {
    if infos.is_empty() {
        return Err(no_adapter_message());
    }
    let wanted = filter.map(str::to_lowercase);
    let matches = |info: &AdapterInfo| match &wanted {
        None => true,
        Some(w) => {
            info.name.to_lowercase().contains(w.as_str())
                || info.driver.to_lowercase().contains(w.as_str())
        }
    };
    infos
        .iter()
        .enumerate()
        .filter(|(_, info)| matches(info))
        .min_by_key(|(i, info)| (type_rank(info.device_type), *i))
        .map(|(i, _)| i)
        .ok_or_else(|| {
            let names: Vec<String> = infos
                .iter()
                .map(|i| format!("'{}' ({:?})", i.name, i.backend))
                .collect();
            format!(
                "no adapter name contains {:?} (the adapter filter); available: {}",
                filter.unwrap_or_default(),
                names.join(", ")
            )
        })
}

/// The message shown when the machine offers no usable adapter at all.
pub fn no_adapter_message() -> String {
    let mut msg = String::from("no Vulkan, Metal or DX12 adapter was found");
    if cfg!(target_os = "linux") {
        msg.push_str(
            "; on Linux without a GPU, install Mesa's software Vulkan driver (lavapipe): \
             `apt-get install mesa-vulkan-drivers`",
        );
    }
    msg
}

/// What `ifru info` and every report say about the adapter in use.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
}

impl From<&AdapterInfo> for AdapterSummary {
    fn from(info: &AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
        }
    }
}

/// The adapter fields reports and audit entries carry.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AdapterRecord {
    pub name: String,
    pub device_type: String,
    pub backend: String,
    pub driver: String,
}

impl From<AdapterSummary> for AdapterRecord {
    fn from(a: AdapterSummary) -> Self {
        AdapterRecord {
            name: a.name,
            device_type: a.device_type,
            backend: a.backend,
            driver: a.driver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, t: DeviceType) -> AdapterInfo {
        AdapterInfo {
            name: name.into(),
            vendor: 0,
            device: 0,
            device_type: t,
            device_pci_bus_id: String::new(),
            driver: "drv".into(),
            driver_info: String::new(),
            backend: wgpu::Backend::Vulkan,
            subgroup_min_size: 4,
            subgroup_max_size: 64,
            transient_saves_memory: None,
            limit_bucket: None,
        }
    }

    #[test]
    fn real_gpu_beats_software() {
        let infos = [
            info("llvmpipe", DeviceType::Cpu),
            info("NVIDIA H200", DeviceType::DiscreteGpu),
        ];
        assert_eq!(choose_adapter(&infos, None), Ok(1));
    }

    #[test]
    fn filter_picks_by_name_ignoring_case() {
        let infos = [
            info("NVIDIA H200", DeviceType::DiscreteGpu),
            info("llvmpipe (LLVM 15)", DeviceType::Cpu),
        ];
        assert_eq!(choose_adapter(&infos, Some("LLVMPIPE")), Ok(1));
        let err = choose_adapter(&infos, Some("radeon")).unwrap_err();
        assert!(err.contains("radeon") && err.contains("llvmpipe"), "{err}");
    }

    #[test]
    fn empty_list_says_how_to_install_lavapipe() {
        let err = choose_adapter(&[], None).unwrap_err();
        assert!(err.contains("no Vulkan, Metal or DX12 adapter"));
        if cfg!(target_os = "linux") {
            assert!(err.contains("mesa-vulkan-drivers"));
        }
    }
}
