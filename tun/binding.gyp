# node-gyp build of tun.node (Linux only: TUN/TAP through /dev/net/tun). Built by `npm install` (the root
# package's install script) or `npm run build:tun`; output in tun/build/Release/tun.node. The io_uring backend
# (src/uring.cc) links liburing when tun/build-addon.mjs found it (EGR_HAVE_URING=1), else it is left out.
{
  "variables": {
    "have_uring%": "<!(node -p \"process.env.EGR_HAVE_URING === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "tun",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/tun.cc", "src/vnet.cc", "src/uring.cc"],
          "cflags_cc": ["-std=gnu++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        }],
        ["OS=='linux' and have_uring==1", {
          "defines": ["EGR_HAVE_URING"],
          "libraries": ["-luring"]
        }]
      ]
    }
  ]
}
