/* Instantiates a kernel template for float64 and float32: a .c file writes
 *   #define JN_TEMPLATE "jaxnet_x_impl.h"
 *   #include "jn_twice.h"
 * and the template is compiled twice with JN_T (double, float), JN_SFX(name)
 * (name_f64, name_f32), JN_EXP (exp, expf), JN_TANH (tanh, tanhf) and
 * JN_IS_DOUBLE (1, 0). No include guard on purpose. */
#define JN_T double
#define JN_IS_DOUBLE 1
#define JN_SFX(name) name##_f64
#define JN_EXP exp
#define JN_TANH tanh
#include JN_TEMPLATE
#undef JN_T
#undef JN_IS_DOUBLE
#undef JN_SFX
#undef JN_EXP
#undef JN_TANH

#define JN_T float
#define JN_IS_DOUBLE 0
#define JN_SFX(name) name##_f32
#define JN_EXP expf
#define JN_TANH tanhf
#include JN_TEMPLATE
#undef JN_T
#undef JN_IS_DOUBLE
#undef JN_SFX
#undef JN_EXP
#undef JN_TANH
#undef JN_TEMPLATE
