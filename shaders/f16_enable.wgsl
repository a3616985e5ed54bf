// Native 16-bit floats (the device's SHADER_F16 feature); must open the module.
enable f16;
