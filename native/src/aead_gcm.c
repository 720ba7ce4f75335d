/*
 * AES-256-GCM in place, through the OpenSSL that Node itself carries (its symbols are in the
 * node process; the headers ship with Node's own). node:crypto always writes the ciphertext
 * into a new buffer, which the caller then copies back and V8 must collect: for 4 MiB chunks
 * that allocation, copy and collection cost as much as the cipher. Here the bytes are
 * encrypted and decrypted where they lie.
 *
 *   gcmSeal(key, nonce, aad, data, tag)   encrypts data in place, writes the 16-byte tag
 *   gcmOpen(key, nonce, aad, tag, data)   decrypts data in place -> true; false when the tag
 *                                         does not verify, and data is put back as it was
 *                                         (so no unauthenticated plaintext is ever seen)
 *
 * All arguments are Uint8Arrays (Buffers are): key 32 bytes, nonce 12, tag 16. The output
 * is the same as node:crypto's aes-256-gcm for the same key, nonce and aad.
 */
#include <node_api.h>
#include <openssl/evp.h>

#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "aead_gcm.h"
#include "napi_args.h"

#define BV_KEY_BYTES 32
#define BV_NONCE_BYTES 12
#define BV_TAG_BYTES 16
/* EVP takes int lengths: feed larger inputs in pieces. */
#define BV_PIECE (1 << 30)

typedef struct {
  uint8_t *data;
  size_t length;
} bv_bytes;

static int bv_throw(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return 0;
}

static int bv_arg_bytes(napi_env env, napi_value value, const char *name, size_t want, bv_bytes *out) {
  uint8_t *data = NULL;
  size_t length = 0;
  if (!bv_arg_uint8(env, value, name, &data, &length)) return 0;
  if (want && length != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be %zu bytes, got %zu", name, want, length);
    return bv_throw(env, "ERR_INVALID_ARG_VALUE", msg);
  }
  out->data = data;
  out->length = length;
  return 1;
}

/* Runs the cipher over data in place; the context is initialised for enc (1) or dec (0). */
static int bv_gcm_run(EVP_CIPHER_CTX *ctx, int enc, const bv_bytes *key, const bv_bytes *nonce, const bv_bytes *aad, bv_bytes *data) {
  int n = 0;
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1) return 0;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BV_NONCE_BYTES, NULL) != 1) return 0;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, key->data, nonce->data, enc) != 1) return 0;
  for (size_t at = 0; at < aad->length; at += BV_PIECE) {
    size_t len = aad->length - at < BV_PIECE ? aad->length - at : BV_PIECE;
    if (EVP_CipherUpdate(ctx, NULL, &n, aad->data + at, (int)len) != 1) return 0;
  }
  for (size_t at = 0; at < data->length; at += BV_PIECE) {
    size_t len = data->length - at < BV_PIECE ? data->length - at : BV_PIECE;
    if (EVP_CipherUpdate(ctx, data->data + at, &n, data->data + at, (int)len) != 1) return 0;
  }
  return 1;
}

/* The five Uint8Array arguments of a call, each checked against its name and length (0: any). */
static int bv_gcm_args(napi_env env, napi_callback_info info, const char *usage, const char *const names[5],
                       const size_t wants[5], bv_bytes out[5]) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < 5) return bv_throw(env, "ERR_MISSING_ARGS", usage);
  for (int i = 0; i < 5; i++)
    if (!bv_arg_bytes(env, argv[i], names[i], wants[i], &out[i])) return 0;
  return 1;
}

static napi_value bv_gcm_seal(napi_env env, napi_callback_info info) {
  static const char *const names[5] = {"key", "nonce", "aad", "data", "tag"};
  static const size_t wants[5] = {BV_KEY_BYTES, BV_NONCE_BYTES, 0, 0, BV_TAG_BYTES};
  bv_bytes a[5];
  if (!bv_gcm_args(env, info, "gcmSeal(key, nonce, aad, data, tag)", names, wants, a)) return NULL;
  bv_bytes *key = &a[0], *nonce = &a[1], *aad = &a[2], *data = &a[3], *tag = &a[4];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  int ok = ctx && bv_gcm_run(ctx, 1, key, nonce, aad, data) && EVP_EncryptFinal_ex(ctx, tag->data, &n) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BV_TAG_BYTES, tag->data) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) bv_throw(env, "ERR_CRYPTO_OPERATION_FAILED", "AES-256-GCM encryption failed in OpenSSL");
  return NULL;
}

static napi_value bv_gcm_open(napi_env env, napi_callback_info info) {
  static const char *const names[5] = {"key", "nonce", "aad", "tag", "data"};
  static const size_t wants[5] = {BV_KEY_BYTES, BV_NONCE_BYTES, 0, BV_TAG_BYTES, 0};
  bv_bytes a[5];
  if (!bv_gcm_args(env, info, "gcmOpen(key, nonce, aad, tag, data)", names, wants, a)) return NULL;
  bv_bytes *key = &a[0], *nonce = &a[1], *aad = &a[2], *tag = &a[3], *data = &a[4];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  uint8_t want[BV_TAG_BYTES];
  memcpy(want, tag->data, BV_TAG_BYTES); /* tag may alias data's buffer */
  int ran = ctx && bv_gcm_run(ctx, 0, key, nonce, aad, data);
  int good = ran && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BV_TAG_BYTES, want) == 1 &&
             EVP_DecryptFinal_ex(ctx, NULL, &n) == 1;
  if (ran && !good) {
    /* GCM is a counter mode: running the same keystream over the bytes again restores the
     * ciphertext, so a caller that re-reads and compares sees the bytes it was given. */
    if (!bv_gcm_run(ctx, 1, key, nonce, aad, data)) memset(data->data, 0, data->length);
  }
  EVP_CIPHER_CTX_free(ctx);
  if (!ran) {
    bv_throw(env, "ERR_CRYPTO_OPERATION_FAILED", "AES-256-GCM decryption failed in OpenSSL");
    return NULL;
  }
  napi_value result;
  if (napi_get_boolean(env, good, &result) != napi_ok) return NULL;
  return result;
}

int bv_aead_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gcmSeal", NULL, bv_gcm_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcmOpen", NULL, bv_gcm_open, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
