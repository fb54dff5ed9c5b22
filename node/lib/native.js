'use strict'
// The native addon (bindings/node), through the loader napi-rs generates.
// Loaded in one place so every module shares it.
module.exports = require('../native/index.js')
