// Getting from a confirmed PAKE to one authenticated pipe: both sides listen and exchange their
// candidates through the mailbox, then race direct TCP both ways and the relay. Either side that
// finds no path tells the other why, so both report within the budget.
#pragma once

#include "proto/server_url.hpp"
#include "session/pipe_race.hpp"

namespace ferry::session {

net::awaitable<proto::Result<ChosenPipe>> open_pipe(std::shared_ptr<Mailbox> mailbox,
                                                    const SessionSecrets& secrets,
                                                    const proto::ServerUrl& server,
                                                    bool force_relay, const std::string& observed);

}  // namespace ferry::session
