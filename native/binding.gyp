{
  "targets": [
    {
      "target_name": "blockvault_native",
      "sources": ["src/block_device.c", "src/aead_gcm.c", "src/lz4_block.c", "src/direct_io.c", "src/napi_args.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "libraries": ["-ldl"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": { "OTHER_CFLAGS": ["-std=gnu11", "-Wall"] }
        }]
      ]
    }
  ]
}
