// The word list for typed codes: 256 distinct, sorted, lowercase words, so one word carries 8 bits.
// Chosen to be easy to spell and say aloud; sorted so completion can search by prefix.
#include "proto/code.hpp"

namespace ferry::proto {

const std::array<std::string_view, 256>& code_words() {
  static constexpr std::array<std::string_view, 256> kWords = {
      "acorn",   "agent",    "alarm",   "album",    "alpine",  "amber",    "anchor",  "angle",
      "ankle",   "apple",    "april",   "apron",    "arctic",  "arena",    "armor",   "arrow",
      "atlas",   "attic",    "autumn",  "avocado",  "bacon",   "badge",    "bagel",   "bakery",
      "bamboo",  "banana",   "banjo",   "barley",   "basil",   "basket",   "beacon",  "beaver",
      "bedrock", "beetle",   "bellow",  "bench",    "berry",   "bicycle",  "bishop",  "blanket",
      "blossom", "blue",     "bonfire", "border",   "bottle",  "boulder",  "bracket", "breeze",
      "bridge",  "broccoli", "bronze",  "bucket",   "buffalo", "button",   "cabin",   "cactus",
      "camera",  "canal",    "candle",  "canoe",    "canyon",  "carbon",   "carpet",  "castle",
      "cedar",   "cello",    "chalk",   "cherry",   "chess",   "chimney",  "cinema",  "circus",
      "citrus",  "clover",   "cobalt",  "coconut",  "comet",   "copper",   "coral",   "cotton",
      "cradle",  "crater",   "crayon",  "cricket",  "crystal", "cupboard", "cushion", "daisy",
      "dancer",  "delta",    "denim",   "desert",   "dinner",  "dolphin",  "domino",  "donkey",
      "dragon",  "dune",     "eagle",   "easel",    "echo",    "eclipse",  "elbow",   "ember",
      "emerald", "engine",   "falcon",  "feather",  "fern",    "fiddle",   "fjord",   "flannel",
      "flute",   "forest",   "fossil",  "fountain", "fox",     "galaxy",   "garden",  "garlic",
      "gazelle", "geyser",   "ginger",  "glacier",  "globe",   "goblet",   "gravel",  "guitar",
      "hammock", "harbor",   "harvest", "hazel",    "helmet",  "hickory",  "honey",   "horizon",
      "husky",   "igloo",    "island",  "ivory",    "jacket",  "jaguar",   "jasmine", "jelly",
      "jigsaw",  "juniper",  "kayak",   "kettle",   "kiwi",    "koala",    "ladder",  "lagoon",
      "lantern", "lava",     "lemon",   "lentil",   "lilac",   "linen",    "lizard",  "lobster",
      "locket",  "lotus",    "magnet",  "mango",    "maple",   "marble",   "meadow",  "melon",
      "meteor",  "mirror",   "mitten",  "monsoon",  "mosaic",  "muffin",   "mustard", "napkin",
      "nectar",  "needle",   "nickel",  "noodle",   "nutmeg",  "oasis",    "oatmeal", "ocean",
      "olive",   "onion",    "orbit",   "orchid",   "otter",   "oxcart",   "paddle",  "pancake",
      "panther", "papaya",   "parrot",  "pebble",   "pelican", "pepper",   "pillow",  "pilot",
      "pine",    "plum",     "pocket",  "polka",    "pony",    "poppy",    "potato",  "puzzle",
      "quartz",  "quill",    "rabbit",  "radar",    "radish",  "raven",    "ribbon",  "river",
      "rocket",  "saddle",   "saffron", "salmon",   "sandal",  "sapphire", "scarf",   "shovel",
      "silver",  "sketch",   "sleigh",  "spruce",   "squash",  "statue",   "summit",  "sunset",
      "teapot",  "thistle",  "thunder", "tiger",    "timber",  "tomato",   "topaz",   "tulip",
      "tumbler", "tundra",   "turnip",  "umbrella", "valley",  "velvet",   "violin",  "walnut",
      "walrus",  "willow",   "window",  "winter",   "yogurt",  "zebra",    "zenith",  "zephyr",
  };
  return kWords;
}

}  // namespace ferry::proto
