# Builds every fuzz target in replay mode with the normal compiler and registers a ctest that
# runs it over its seed corpus and its past crashes (fuzz/regressions/<target>/). Included from
# the top level when tests are on.
#
# The seed corpus of fuzz_<format> is tests/bad-inputs/<format> and tests/data, plus the
# folders listed below for targets that need more (a round trip needs valid inputs, the .moet
# reader the real sample stores, the perf-input readers valid files to predict with). The same
# folders are good starting corpora for libFuzzer.
set(MOEPLAN_REPLAY_EXTRA_moet ${PROJECT_SOURCE_DIR}/data/samples)
set(MOEPLAN_REPLAY_EXTRA_system_yaml ${PROJECT_SOURCE_DIR}/examples/hardware)
set(MOEPLAN_REPLAY_EXTRA_calibration ${PROJECT_SOURCE_DIR}/data/calibration)
set(MOEPLAN_REPLAY_EXTRA_roundtrip
    ${PROJECT_SOURCE_DIR}/tests/bad-inputs/jsonl ${PROJECT_SOURCE_DIR}/tests/bad-inputs/paper_c_json
    ${PROJECT_SOURCE_DIR}/tests/bad-inputs/moe_beyond_csv ${PROJECT_SOURCE_DIR}/tests/bad-inputs/npy
    ${PROJECT_SOURCE_DIR}/tests/bad-inputs/npz)

file(GLOB MOEPLAN_REPLAY_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/fuzz_*.cpp)
foreach(src ${MOEPLAN_REPLAY_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  string(REPLACE "fuzz_" "" format ${name})
  add_executable(replay_${format} ${src} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_include_directories(replay_${format} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(replay_${format} PRIVATE moeplan_lib)
  add_test(NAME FuzzReplay.${format}
           COMMAND replay_${format} ${PROJECT_SOURCE_DIR}/tests/bad-inputs/${format}
                   ${PROJECT_SOURCE_DIR}/tests/data ${MOEPLAN_REPLAY_EXTRA_${format}}
                   ${PROJECT_SOURCE_DIR}/fuzz/regressions/${name})
endforeach()
