# Builds every fuzz target in replay mode with the normal compiler and registers a ctest that
# runs it over its seed corpus (tests/bad-inputs/<format>, tests/data) and its past crashes
# (fuzz/regressions/<target>/). Included from the top level when tests are on.
file(GLOB MOEPLAN_REPLAY_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/fuzz_*.cpp)
foreach(src ${MOEPLAN_REPLAY_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  string(REPLACE "fuzz_" "" format ${name})
  add_executable(replay_${format} ${src} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_include_directories(replay_${format} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(replay_${format} PRIVATE moeplan_lib)
  add_test(NAME FuzzReplay.${format}
           COMMAND replay_${format} ${PROJECT_SOURCE_DIR}/tests/bad-inputs/${format}
                   ${PROJECT_SOURCE_DIR}/tests/data ${PROJECT_SOURCE_DIR}/fuzz/regressions/${name})
endforeach()
