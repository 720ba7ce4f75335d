/* AES-256-GCM in place (aead_gcm.c): adds gcmSeal and gcmOpen to the addon's exports. */
#ifndef BV_AEAD_GCM_H
#define BV_AEAD_GCM_H
#include <node_api.h>
int bv_aead_register(napi_env env, napi_value exports);
#endif
