# ipp_set_warnings(<target>): the project's warning set, applied per target.
function(ipp_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-unused-parameter)
endfunction()
