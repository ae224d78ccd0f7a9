# SPDX-License-Identifier: ISC
# Picky warnings, each probed (curl PickyWarnings.cmake, tmux debug list).
set(GW_PICKY_WARNINGS
  -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
  -Wshadow -Wpointer-arith -Wwrite-strings -Wundef -Wvla
  -Wmissing-declarations -Wold-style-definition -Wnull-dereference
  -Wno-unused-parameter)
foreach(flag IN LISTS GW_PICKY_WARNINGS)
  string(MAKE_C_IDENTIFIER "HAVE_C${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    add_compile_options(${flag})
  endif()
endforeach()
if(GW_WERROR)
  add_compile_options(-Werror)
endif()
