# IPP_SANITIZE=address,undefined | thread : builds everything with those sanitizers.
set(IPP_SANITIZE "" CACHE STRING "Sanitizers to enable (address,undefined or thread)")
if(IPP_SANITIZE)
  add_compile_options(-fsanitize=${IPP_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${IPP_SANITIZE})
endif()
