// Argument checks of the N-API binding: every entry point (computeGeometry, adamwUpdate, optimThreads,
// convWeightGradient, mapFile) checks its arguments with these helpers and nothing else, so a wrong call fails one way.
//
// The one error: a TypeError (the JavaScript error for "a function received an argument it cannot take", and what
// N-API's own checks throw) with code "KQKD_INVALID_ARGUMENT" and `argument` naming the argument, like the geometry
// worker's rejections, and the project's message "Expected <what> for <name> but received <value>" (the wording of
// @kqkd/common's KqkdError; <value> as its describeValue writes it: `1.5 of type number`, `Float64Array(8)`).
// RangeError is not used: a value out of range and a value of the wrong type are both arguments the function refuses,
// and callers tell them apart by the message, not the class. The TypeScript callers check the same rules first
// (KqkdError), so from kqkd these throws only fire on a direct call of the addon.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kqkd {
namespace binding {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1: every integer a double holds exactly
constexpr int64_t kMaxInt32 = 2147483647;

// `value` as @kqkd/common describeValue describes it.
inline std::string describe(const Napi::Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsUndefined()) return "undefined";
  if (value.IsTypedArray()) {
    const Napi::TypedArray a = value.As<Napi::TypedArray>();
    return a.Get("constructor").As<Napi::Object>().Get("name").ToString().Utf8Value() + "(" +
           std::to_string(a.ElementLength()) + ")";
  }
  if (value.IsArray()) return "Array(" + std::to_string(value.As<Napi::Array>().Length()) + ")";
  if (value.IsString()) {
    const std::string s = value.As<Napi::String>().Utf8Value();
    return "\"" + (s.size() > 60 ? s.substr(0, 57) + "..." : s) + "\" of type string";
  }
  if (value.IsNumber()) return value.ToString().Utf8Value() + " of type number";
  if (value.IsBigInt()) return value.ToString().Utf8Value() + " of type bigint";
  if (value.IsBoolean()) return value.ToString().Utf8Value() + " of type boolean";
  if (value.IsFunction()) return "value of type function";
  if (value.IsSymbol()) return "value of type symbol";
  return "value of type object";
}

// An integer-valued double as digits (sizes multiplied in double can pass 2^63).
inline std::string integerText(double d) {
  char text[400];
  std::snprintf(text, sizeof text, "%.0f", d);
  return text;
}

// Throws the one error: "Expected <expected> for <name> but received <received>".
[[noreturn]] inline void invalidArgument(Napi::Env env, const std::string& name, const std::string& expected,
                                         const std::string& received) {
  Napi::TypeError error = Napi::TypeError::New(env, "Expected " + expected + " for " + name + " but received " + received);
  error.Set("code", "KQKD_INVALID_ARGUMENT");
  error.Set("argument", name);
  throw error;
}

// An integer number in [min, max] (both within ±(2^53 - 1)).
inline int64_t requireInteger(Napi::Env env, const Napi::Value& value, const std::string& name, int64_t min, int64_t max) {
  bool ok = value.IsNumber();
  double d = 0;
  if (ok) {
    d = value.As<Napi::Number>().DoubleValue();
    ok = std::isfinite(d) && d == std::floor(d) && d >= double(min) && d <= double(max);
  }
  if (!ok) invalidArgument(env, name, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]", describe(value));
  return static_cast<int64_t>(d);
}

// A number that is finite as a double and stays finite as a float32 (1e300 does not).
inline float requireFiniteFloat32(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (value.IsNumber()) {
    const double d = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && std::isfinite(static_cast<float>(d))) return static_cast<float>(d);
  }
  invalidArgument(env, name, "a finite float32 number", describe(value));
}

inline Napi::Object requireObject(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction() || value.IsTypedArray())
    invalidArgument(env, name, "an object", describe(value));
  return value.As<Napi::Object>();
}

// A string without NUL bytes (a NUL would cut a file path short when it goes to the system).
inline std::string requirePath(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (value.IsString()) {
    std::string s = value.As<Napi::String>().Utf8Value();
    if (!s.empty() && s.find('\0') == std::string::npos) return s;
  }
  invalidArgument(env, name, "a file path (a non-empty string without NUL bytes)", describe(value));
}

template <typename T> struct TypedArrayKind;
template <> struct TypedArrayKind<Napi::Float32Array> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "a Float32Array";
};
template <> struct TypedArrayKind<Napi::Int32Array> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "an Int32Array";
};
template <> struct TypedArrayKind<Napi::BigInt64Array> {
  static constexpr napi_typedarray_type type = napi_bigint64_array;
  static constexpr const char* name = "a BigInt64Array";
};

// A typed array of exactly the type T (a Float64Array is not a Float32Array).
template <typename T>
T requireTypedArray(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != TypedArrayKind<T>::type)
    invalidArgument(env, name, TypedArrayKind<T>::name, describe(value));
  return value.As<T>();
}

// A typed array of exactly `length` elements (`length` as a double: sizes multiplied from user integers never wrap).
template <typename T>
void requireLength(Napi::Env env, const T& array, double length, const std::string& name) {
  if (double(array.ElementLength()) != length) {
    invalidArgument(env, name, std::string(TypedArrayKind<T>::name) + " of " + integerText(length) + " values", describe(array));
  }
}

// `a` shares no byte with `b`.
template <typename T>
void requireDisjoint(Napi::Env env, const T& a, const std::string& aName, const T& b, const std::string& bName) {
  const auto* pa = reinterpret_cast<const uint8_t*>(a.Data());
  const auto* pb = reinterpret_cast<const uint8_t*>(b.Data());
  if (a.ByteLength() && b.ByteLength() && pa < pb + b.ByteLength() && pb < pa + a.ByteLength())
    invalidArgument(env, aName, "an array that does not overlap " + bName, "a view sharing memory with " + bName);
}

}  // namespace binding
}  // namespace kqkd
