#include <ipp/cluster/cluster_file.hpp>
#include <ipp/config/connection_info.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ipp::cluster {

namespace {

using OJson = nlohmann::ordered_json;

void dump_string(const std::string& s, std::string& out) {
  // nlohmann's ensure_ascii escaping matches json.dumps (\uXXXX, surrogate pairs).
  out += nlohmann::json(s).dump(-1, ' ', /*ensure_ascii=*/true);
}

void dump(const OJson& j, std::string& out) {
  switch (j.type()) {
    case OJson::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        dump_string(it.key(), out);
        out += ": ";
        dump(it.value(), out);
      }
      out += '}';
      break;
    }
    case OJson::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ", ";
        first = false;
        dump(v, out);
      }
      out += ']';
      break;
    }
    case OJson::value_t::string: dump_string(j.get<std::string>(), out); break;
    case OJson::value_t::number_float: {
      // Python's repr of a float always has a '.' or an exponent (1.0, not 1).
      std::string s = j.dump();
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      out += s;
      break;
    }
    default: out += j.dump(); break;
  }
}

// Launcher state dicts: traitlets' traits() is alphabetical; LocalEngineSetLauncher appends its
// "engines" after the traits, SSHEngineSetLauncher has "engines" as a trait (sorted position).
OJson state_json(const LauncherState& s, const std::string& cls, bool is_set, bool is_engine,
                 const EngineSetRecord* set) {
  // SSHProxyEngineSetLauncher is a single launcher (the remote `ipcluster engines`), so its
  // "set" state has a pid and output files and no per-engine entries.
  const bool proxy = cls == "sshproxy";
  const bool ssh = cls == "ssh" || proxy;
  const bool batch = is_batch_class(cls);
  const bool single = is_single_launcher_set(cls);
  std::map<std::string, OJson> keys;  // sorted
  keys["cluster_id"] = s.cluster_id;
  keys["profile_dir"] = s.profile_dir;
  keys["state"] = s.state;
  if (batch) {
    keys["job_id"] = s.job_id;
    keys["batch_file_name"] = s.batch_file_name;
    keys["batch_template"] = s.batch_template;
    keys["queue"] = s.queue;
    keys["namespace"] = OJson::parse(s.batch_namespace.dump());
  } else {
    keys["pid"] = s.pid;
  }
  if (is_set || is_engine || (batch && !is_set)) keys["n"] = s.n;
  if (!is_set || single) keys["output_file"] = s.output_file;
  if (ssh) {
    keys["hostname"] = s.hostname;
    keys["user"] = s.user;
    keys["remote_profile_dir"] = s.remote_profile_dir;
    keys["remote_python"] = s.remote_python;
    keys["ssh_cmd"] = s.ssh_cmd;
    keys["ssh_args"] = s.ssh_args;
    keys["scp_cmd"] = s.scp_cmd;
    keys["scp_args"] = s.scp_args;
    if (!is_set || proxy) keys["remote_output_file"] = s.remote_output_file;
  }
  auto engines_json = [&] {
    OJson e = OJson::object();
    for (const auto& [key, st] : set->engines) e[key] = state_json(st, cls, false, true, nullptr);
    return e;
  };
  if (is_set && ssh && !proxy) keys["engines"] = engines_json();
  OJson out = OJson::object();
  for (auto& [k, v] : keys) out[k] = std::move(v);
  if (is_set && !ssh && !single) out["engines"] = engines_json();
  return out;
}

std::string str_or(const nlohmann::json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::vector<std::string> list_or(const nlohmann::json& j, const char* key,
                                 std::vector<std::string> fallback) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return fallback;
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

LauncherState state_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("launcher state is not an object");
  LauncherState s;
  s.cluster_id = str_or(j, "cluster_id", "");
  s.profile_dir = str_or(j, "profile_dir", "");
  s.state = str_or(j, "state", "before");
  if (auto it = j.find("pid"); it != j.end() && it->is_number_integer()) s.pid = it->get<long>();
  if (auto it = j.find("n"); it != j.end() && it->is_number_integer()) s.n = it->get<int>();
  s.output_file = str_or(j, "output_file", "");
  s.hostname = str_or(j, "hostname", "");
  s.user = str_or(j, "user", "");
  s.remote_output_file = str_or(j, "remote_output_file", "");
  s.remote_profile_dir = str_or(j, "remote_profile_dir", "");
  s.remote_python = str_or(j, "remote_python", "python3");
  s.ssh_cmd = list_or(j, "ssh_cmd", {"ssh"});
  s.ssh_args = list_or(j, "ssh_args", {});
  s.scp_cmd = list_or(j, "scp_cmd", {"scp"});
  s.scp_args = list_or(j, "scp_args", {});
  s.job_id = str_or(j, "job_id", "");
  s.batch_file_name = str_or(j, "batch_file_name", "");
  s.batch_template = str_or(j, "batch_template", "");
  s.queue = str_or(j, "queue", "");
  if (auto it = j.find("namespace"); it != j.end() && it->is_object()) s.batch_namespace = *it;
  return s;
}

}  // namespace

bool is_batch_class(const std::string& cls) {
  return cls == "pbs" || cls == "sge" || cls == "slurm" || cls == "lsf" || cls == "htcondor" ||
         cls == "batch";
}

bool is_single_launcher_set(const std::string& cls) {
  return cls == "sshproxy" || cls == "mpi" || is_batch_class(cls);
}

bool ClusterRecord::any_running() const {
  if (controller && controller->state == "running") return true;
  const bool proxy = is_single_launcher_set(engine_class);
  return std::any_of(sets.begin(), sets.end(), [proxy](const EngineSetRecord& s) {
    return s.set.state == "running" &&
           (proxy || std::any_of(s.engines.begin(), s.engines.end(),
                                 [](const auto& e) { return e.second.state == "running"; }));
  });
}

int ClusterRecord::engine_count() const {
  int count = 0;
  for (const auto& s : sets) {
    if (is_single_launcher_set(engine_class)) {
      count += s.set.state == "running" ? s.set.n : 0;
      continue;
    }
    for (const auto& e : s.engines) count += e.second.state == "running" ? 1 : 0;
  }
  return count;
}

nlohmann::ordered_json ClusterRecord::to_json() const {
  OJson cluster = OJson::object();
  cluster["cluster_id"] = cluster_id;
  cluster["controller_args"] = controller_args;
  cluster["controller_ip"] = controller_ip;
  cluster["controller_location"] = controller_location;
  cluster["delay"] = delay;
  cluster["n"] = n ? OJson(*n) : OJson(nullptr);
  cluster["profile_dir"] = profile_dir;
  cluster["class"] = "ipyparallel.cluster.cluster.Cluster";
  OJson out = OJson::object();
  out["cluster"] = std::move(cluster);
  // Cluster.to_dict omits a controller whose launcher has stopped ("after").
  if (controller && controller->state != "after") {
    out["controller"] = {{"class", controller_class},
                         {"state", state_json(*controller, controller_class, false, false, nullptr)}};
  }
  OJson sets_json = OJson::object();
  for (const auto& s : sets) {
    if (s.set.state == "after") continue;
    sets_json[s.id] = state_json(s.set, engine_class, true, false, &s);
  }
  out["engines"] = {{"class", engine_class}, {"sets", std::move(sets_json)}};
  return out;
}

ClusterRecord ClusterRecord::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("cluster file is not a JSON object");
  auto c = j.find("cluster");
  if (c == j.end() || !c->is_object()) throw std::runtime_error("no 'cluster' section");
  ClusterRecord r;
  if (!c->contains("cluster_id") || !c->contains("profile_dir")) {
    throw std::runtime_error("'cluster' lacks cluster_id or profile_dir");
  }
  r.cluster_id = str_or(*c, "cluster_id", "");
  r.profile_dir = str_or(*c, "profile_dir", "");
  r.controller_args = list_or(*c, "controller_args", {});
  r.controller_ip = str_or(*c, "controller_ip", "");
  r.controller_location = str_or(*c, "controller_location", "");
  if (auto it = c->find("delay"); it != c->end() && it->is_number()) r.delay = it->get<double>();
  if (auto it = c->find("n"); it != c->end() && it->is_number_integer()) r.n = it->get<int>();
  if (auto it = j.find("controller"); it != j.end() && it->is_object()) {
    r.controller_class = str_or(*it, "class", "local");
    auto st = it->find("state");
    if (st != it->end() && st->is_object() && !st->empty()) r.controller = state_from_json(*st);
  }
  if (auto it = j.find("engines"); it != j.end() && it->is_object()) {
    r.engine_class = str_or(*it, "class", "local");
    auto sets = it->find("sets");
    if (sets != it->end() && sets->is_object()) {
      for (auto s = sets->begin(); s != sets->end(); ++s) {
        EngineSetRecord rec;
        rec.id = s.key();
        rec.set = state_from_json(s.value());
        auto eng = s.value().find("engines");
        if (is_single_launcher_set(r.engine_class)) {
          r.sets.push_back(std::move(rec));
          continue;
        }
        if (eng == s.value().end() || !eng->is_object()) {
          throw std::runtime_error("engine set " + rec.id + " has no 'engines'");
        }
        for (auto e = eng->begin(); e != eng->end(); ++e) {
          rec.engines.emplace_back(e.key(), state_from_json(e.value()));
        }
        r.sets.push_back(std::move(rec));
      }
    }
  }
  return r;
}

std::string python_json_dumps(const nlohmann::ordered_json& j) {
  std::string out;
  dump(j, out);
  return out;
}

void write_cluster_file(const std::filesystem::path& path, const ClusterRecord& record) {
  using std::filesystem::perms;
  // Private like the connection files: it names the controller, its engines and their jobs.
  ipp::config::write_file_atomic(path, python_json_dumps(record.to_json()),
                                 perms::owner_read | perms::owner_write);
}

std::optional<ClusterRecord> read_cluster_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  ipp::config::ensure_private_file(path);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("invalid JSON: ") + e.what());
  }
  return ClusterRecord::from_json(j);
}

std::vector<std::filesystem::path> cluster_files(const std::filesystem::path& profile_dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(profile_dir / "security", ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("cluster-", 0) == 0 && name.size() >= 13 &&
        name.substr(name.size() - 5) == ".json") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string cluster_id_from_file(const std::filesystem::path& path) {
  auto name = path.filename().string();
  return name.substr(8, name.size() - 8 - 5);
}

}  // namespace ipp::cluster
