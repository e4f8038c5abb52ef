#include "server/connection_table.hpp"

namespace ferry::server {

std::string_view stage_name(ConnectionStage s) {
  switch (s) {
    case ConnectionStage::handshake:
      return "handshake";
    case ConnectionStage::http:
      return "http";
    case ConnectionStage::websocket_unbound:
      return "websocket_unbound";
    case ConnectionStage::relay_hello:
      return "relay_hello";
    case ConnectionStage::rendezvous:
      return "rendezvous";
    case ConnectionStage::relay:
      return "relay";
    case ConnectionStage::download:
      return "download";
  }
  return "unknown";
}

bool evictable(ConnectionStage s) {
  return s == ConnectionStage::handshake || s == ConnectionStage::http ||
         s == ConnectionStage::websocket_unbound || s == ConnectionStage::relay_hello;
}

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::none:
      return "none";
    case Refusal::address_rate:
      return "address_rate";
    case Refusal::address_full:
      return "address_connections";
    case Refusal::server_full:
      return "server_connections";
  }
  return "unknown";
}

std::size_t ConnectionTable::in_group(const std::string& group) const {
  const auto it = groups_.find(group);
  return it == groups_.end() ? 0 : it->second;
}

ConnectionTable::Admission ConnectionTable::admit(const std::string& group) {
  Admission a;
  if (in_group(group) >= limits_.per_group) {
    a.refused = Refusal::address_full;
    return a;
  }
  if (entries_.size() >= limits_.total) {
    if (evictable_.empty()) {
      a.refused = Refusal::server_full;
      return a;
    }
    a.evicted = *evictable_.begin();
    remove(*a.evicted);
  }
  const Id id = next_id_++;
  entries_.emplace(id, Entry{group, ConnectionStage::handshake});
  ++groups_[group];
  evictable_.insert(id);
  ++by_stage_[static_cast<std::size_t>(ConnectionStage::handshake)];
  a.id = id;
  return a;
}

void ConnectionTable::set_stage(Id id, ConnectionStage stage) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto& e = it->second;
  --by_stage_[static_cast<std::size_t>(e.stage)];
  ++by_stage_[static_cast<std::size_t>(stage)];
  if (evictable(stage)) {
    evictable_.insert(id);
  } else {
    evictable_.erase(id);
  }
  e.stage = stage;
}

void ConnectionTable::remove(Id id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  --by_stage_[static_cast<std::size_t>(it->second.stage)];
  evictable_.erase(id);
  const auto g = groups_.find(it->second.group);
  if (g != groups_.end() && --g->second == 0) groups_.erase(g);
  entries_.erase(it);
}

}  // namespace ferry::server
