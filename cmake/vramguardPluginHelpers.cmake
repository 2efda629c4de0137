# vramguard_add_strategy_plugin(<target> SOURCES <files...> [OUTPUT_DIRECTORY <dir>])
#
# Builds a placement-strategy plugin: a MODULE library linked against the SDK that exports exactly one
# symbol, its registration record (VRAMGUARD_REGISTER_STRATEGY): hidden visibility for the plugin's
# own code, a linker version script for everything else (the SDK and the static C++ pieces included).
set(_vramguard_plugin_version_script "${CMAKE_CURRENT_LIST_DIR}/vramguard_plugin.map")

function(vramguard_add_strategy_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "vramguard_add_strategy_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE vramguard::sdk)
  target_link_options(${target} PRIVATE "LINKER:--version-script=${_vramguard_plugin_version_script}"
    "LINKER:--exclude-libs,ALL")
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${_vramguard_plugin_version_script}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
endfunction()
