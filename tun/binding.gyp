# node-gyp build of tun.node (Linux only: TUN/TAP through /dev/net/tun). Built by `npm install` (the root
# package's install script) or `npm run build:tun`; output in tun/build/Release/tun.node.
{
  "targets": [
    {
      "target_name": "tun",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/tun.cc", "src/vnet.cc"],
          "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        }]
      ]
    }
  ]
}
