/* placeholder: being written */
typedef int weir_placeholder_t;
