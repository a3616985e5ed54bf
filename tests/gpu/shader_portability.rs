//! Every composed WGSL source is parsed and validated by naga and translated to SPIR-V
//! (Vulkan), MSL (Metal) and HLSL (DX12), so a change that would break a backend fails
//! here, on any machine.

use ifru::kernels::shaders::ALL;
use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn module_and_info(name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    // Only the capabilities every backend has: the kernels must not need more. The f16
    // packing builtins (pack2x16float, unpack2x16float) are WebGPU core, which naga counts
    // as a capability: wgpu grants it with the downlevel flag SHADER_F16_IN_F32, which every
    // Vulkan, Metal and DX12 adapter has (tests/gpu/f16.rs runs them with SHADER_F16 unrequested).
    let info = Validator::new(
        ValidationFlags::all(),
        Capabilities::SHADER_FLOAT16_IN_FLOAT32,
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    (module, info)
}

#[test]
fn every_shader_validates_with_baseline_capabilities() {
    assert!(ALL.len() >= 5);
    for shader in ALL {
        let (module, _) = module_and_info(shader.name, shader.source);
        assert!(
            module
                .entry_points
                .iter()
                .all(|e| e.stage == naga::ShaderStage::Compute),
            "{}: compute entry points only",
            shader.name
        );
    }
}

#[test]
fn every_shader_translates_to_spirv() {
    for shader in ALL {
        let (module, info) = module_and_info(shader.name, shader.source);
        let words = spv::write_vec(&module, &info, &spv::Options::default(), None)
            .unwrap_or_else(|e| panic!("{} to SPIR-V: {e}", shader.name));
        assert_eq!(words[0], 0x0723_0203, "SPIR-V magic number");
    }
}

#[test]
fn every_entry_point_translates_to_msl() {
    for shader in ALL {
        let (module, info) = module_and_info(shader.name, shader.source);
        for entry in &module.entry_points {
            let pipeline = msl::PipelineOptions {
                entry_point: Some((naga::ShaderStage::Compute, entry.name.clone())),
                ..Default::default()
            };
            let options = msl::Options {
                lang_version: (2, 1),
                fake_missing_bindings: true,
                ..Default::default()
            };
            let (text, _) = msl::write_string(&module, &info, &options, &pipeline)
                .unwrap_or_else(|e| panic!("{}::{} to MSL: {e}", shader.name, entry.name));
            assert!(text.contains("kernel"), "{}::{}", shader.name, entry.name);
        }
    }
}

#[test]
fn every_shader_translates_to_hlsl() {
    for shader in ALL {
        let (module, info) = module_and_info(shader.name, shader.source);
        let mut text = String::new();
        let options = hlsl::Options {
            shader_model: hlsl::ShaderModel::V5_1,
            fake_missing_bindings: true,
            ..Default::default()
        };
        let pipeline = hlsl::PipelineOptions::default();
        let mut writer = hlsl::Writer::new(&mut text, &options, &pipeline);
        writer
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{} to HLSL: {e}", shader.name));
        assert!(text.contains("[numthreads("), "{}", shader.name);
    }
}

/// The native-f16 shaders validate with the `SHADER_FLOAT16` capability (the only one they
/// add) and translate to SPIR-V, MSL and HLSL shader model 6.2 (the first with 16-bit types).
#[test]
fn f16_shaders_validate_with_float16_and_translate_everywhere() {
    use ifru::kernels::shaders::NEEDS_F16;
    assert!(!NEEDS_F16.is_empty());
    for shader in NEEDS_F16 {
        let module = naga::front::wgsl::parse_str(shader.source)
            .unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(shader.source)));
        assert!(
            Validator::new(
                ValidationFlags::all(),
                Capabilities::SHADER_FLOAT16_IN_FLOAT32
            )
            .validate(&module)
            .is_err(),
            "{}: needs SHADER_FLOAT16, so it is not in ALL",
            shader.name
        );
        let info = Validator::new(
            ValidationFlags::all(),
            Capabilities::SHADER_FLOAT16 | Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(shader.source)));
        spv::write_vec(&module, &info, &spv::Options::default(), None)
            .unwrap_or_else(|e| panic!("{} to SPIR-V: {e}", shader.name));
        for entry in &module.entry_points {
            let pipeline = msl::PipelineOptions {
                entry_point: Some((naga::ShaderStage::Compute, entry.name.clone())),
                ..Default::default()
            };
            let options = msl::Options {
                lang_version: (2, 1),
                fake_missing_bindings: true,
                ..Default::default()
            };
            msl::write_string(&module, &info, &options, &pipeline)
                .unwrap_or_else(|e| panic!("{}::{} to MSL: {e}", shader.name, entry.name));
        }
        let mut text = String::new();
        let options = hlsl::Options {
            shader_model: hlsl::ShaderModel::V6_2,
            fake_missing_bindings: true,
            ..Default::default()
        };
        let pipeline = hlsl::PipelineOptions::default();
        hlsl::Writer::new(&mut text, &options, &pipeline)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{} to HLSL: {e}", shader.name));
    }
}
