// `ferry doctor`: what this network allows, checked against a server, as a report for people or
// one JSON object.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ferry::cli {

struct DoctorFlags {
  std::string server;
  bool json = false;
  std::string stun;
};

CLI::App* add_doctor_command(CLI::App& app, DoctorFlags& flags);
int run_doctor_command(const DoctorFlags& flags);

}  // namespace ferry::cli
