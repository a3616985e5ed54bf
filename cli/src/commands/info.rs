//! `ifru info`: which adapter ifru would use, its limits and granted features.

use clap::Args;
use ifru::gpu::Gpu;

use super::CliResult;

#[derive(Args)]
pub struct InfoArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> CliResult {
    let gpu = Gpu::from_env()?;
    let adapter = gpu.adapter();
    let limits = gpu.key_limits();
    let features = gpu.features();
    if args.json {
        let doc = serde_json::json!({ "adapter": adapter, "limits": limits, "features": features });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("adapter:      {}", adapter.name);
    println!("backend:      {}", adapter.backend);
    println!("device type:  {}", adapter.device_type);
    println!("driver:       {} ({})", adapter.driver, adapter.driver_info);
    if gpu.is_software() {
        println!("              software rasteriser: fine for correctness, not for speed");
    }
    println!(
        "block-Jacobi: built on the {} (IFRU_BLOCK_JACOBI=host|device to choose)",
        if gpu.host_block_jacobi() {
            "host"
        } else {
            "device"
        }
    );
    println!("limits:");
    println!(
        "  max buffer size                {}",
        bytes(limits.max_buffer_size)
    );
    println!(
        "  max storage binding            {}",
        bytes(limits.max_storage_buffer_binding_size)
    );
    println!(
        "  binding cap in use             {}",
        bytes(limits.binding_cap)
    );
    println!(
        "  storage buffers per stage      {}",
        limits.max_storage_buffers_per_shader_stage
    );
    println!(
        "  workgroups per dimension       {}",
        limits.max_compute_workgroups_per_dimension
    );
    println!(
        "  invocations per workgroup      {}",
        limits.max_compute_invocations_per_workgroup
    );
    println!(
        "  workgroup storage              {}",
        bytes(limits.max_compute_workgroup_storage_size as u64)
    );
    println!(
        "  storage offset alignment       {}",
        limits.min_storage_buffer_offset_alignment
    );
    println!("features granted:");
    println!(
        "  timestamp queries              {}",
        yes_no(features.timestamp_query)
    );
    println!(
        "  shader f16                     {}",
        yes_no(features.shader_f16)
    );
    println!(
        "  subgroups                      {}",
        yes_no(features.subgroup)
    );
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB {
        format!("{} MiB ({n} bytes)", n / MIB)
    } else {
        format!("{n} bytes")
    }
}
