#include "astronomy_words.h"

#include <array>

namespace ringlb::apod::words {
namespace {

using namespace std::string_view_literals;

constexpr std::array kNamedObjectList = {
    "Orion Nebula"sv, "Andromeda Galaxy"sv, "Pleiades"sv, "Crab Nebula"sv, "Eagle Nebula"sv,
    "Horsehead Nebula"sv, "Ring Nebula"sv, "Helix Nebula"sv, "Lagoon Nebula"sv, "Trifid Nebula"sv,
    "Rosette Nebula"sv, "Veil Nebula"sv, "Whirlpool Galaxy"sv, "Sombrero Galaxy"sv, "Pinwheel Galaxy"sv,
    "Triangulum Galaxy"sv, "Large Magellanic Cloud"sv, "Small Magellanic Cloud"sv, "Omega Centauri"sv,
    "Carina Nebula"sv, "Cat's Eye Nebula"sv, "Tarantula Nebula"sv, "Heart Nebula"sv, "Soul Nebula"sv,
    "Bubble Nebula"sv, "North America Nebula"sv, "Pelican Nebula"sv, "Cone Nebula"sv, "Jupiter"sv,
    "Saturn"sv, "Mars"sv, "Venus"sv, "Mercury"sv, "the Moon"sv, "the Sun"sv, "Milky Way"sv,
    "Southern Cross"sv, "Double Cluster"sv, "Beehive Cluster"sv, "Owl Nebula"sv, "Dumbbell Nebula"sv,
    "Iris Nebula"sv, "Elephant's Trunk"sv, "Pillars of Creation"sv, "Antennae Galaxies"sv,
    "Stephan's Quintet"sv, "Cigar Galaxy"sv, "Sunflower Galaxy"sv, "Cartwheel Galaxy"sv, "Eta Carinae"sv,
    "Betelgeuse"sv, "Sirius"sv, "Rho Ophiuchi"sv, "Seagull Nebula"sv, "Wizard Nebula"sv,
};

constexpr std::array kObjectKindList = {
    "Spiral Galaxy"sv, "Emission Nebula"sv, "Planetary Nebula"sv, "Dark Nebula"sv, "Reflection Nebula"sv,
    "Globular Cluster"sv, "Open Cluster"sv, "Supernova Remnant"sv, "Barred Spiral Galaxy"sv,
    "Interacting Galaxies"sv, "Galaxy Cluster"sv, "Star Forming Region"sv, "Molecular Cloud"sv,
    "Comet"sv, "Dwarf Galaxy"sv, "Lenticular Galaxy"sv,
};

constexpr std::array kAdjectiveList = {
    "Dusty"sv, "Glowing"sv, "Ancient"sv, "Cosmic"sv, "Faint"sv, "Bright"sv, "Colorful"sv, "Tangled"sv,
    "Stellar"sv, "Hidden"sv, "Deep"sv, "Wide-Field"sv, "Infrared"sv, "Ultraviolet"sv, "Mysterious"sv,
    "Shimmering"sv, "Distant"sv, "Stormy"sv, "Turbulent"sv, "Delicate"sv, "Majestic"sv, "Silent"sv,
    "Crimson"sv, "Blue"sv, "Golden"sv, "Rising"sv, "Unexpected"sv, "Layered"sv,
};

constexpr std::array kPlaceList = {
    "Mauna Kea"sv, "the Atacama Desert"sv, "Yellowstone"sv, "Monument Valley"sv, "Lake Tekapo"sv,
    "the Alps"sv, "Iceland"sv, "Namibia"sv, "La Palma"sv, "Death Valley"sv, "Patagonia"sv,
    "the Sahara"sv, "Uluru"sv, "the Lofoten Islands"sv, "Tenerife"sv, "Big Bend"sv, "the Dolomites"sv,
    "Arches National Park"sv, "the Pyrenees"sv, "Hokkaido"sv, "the Karoo"sv, "Cappadocia"sv,
};

constexpr std::array kPhenomenonList = {
    "Aurora"sv, "Total Solar Eclipse"sv, "Lunar Eclipse"sv, "Perseid Meteors"sv, "Geminid Meteors"sv,
    "Noctilucent Clouds"sv, "Zodiacal Light"sv, "Sun Halo"sv, "Lunar Occultation"sv,
    "Planetary Conjunction"sv, "Star Trails"sv, "Airglow"sv, "Green Flash"sv, "Moonrise"sv,
    "Red Sprites"sv, "Annular Eclipse"sv, "Moon Halo"sv, "Comet Tail"sv,
};

constexpr std::array kConstellationList = {
    "Orion"sv, "Cygnus"sv, "Sagittarius"sv, "Scorpius"sv, "Cassiopeia"sv, "Andromeda"sv, "Ursa Major"sv,
    "Perseus"sv, "Taurus"sv, "Carina"sv, "Centaurus"sv, "Crux"sv, "Lyra"sv, "Aquila"sv, "Cepheus"sv,
    "Draco"sv, "Virgo"sv, "Leo"sv, "Gemini"sv, "Auriga"sv, "Monoceros"sv, "Canis Major"sv, "Hercules"sv,
    "Pegasus"sv, "Serpens"sv, "Ophiuchus"sv, "Vela"sv, "Dorado"sv,
};

constexpr std::array kObservatoryList = {
    "the Hubble Space Telescope"sv, "the James Webb Space Telescope"sv, "the Cassini spacecraft"sv,
    "the Juno spacecraft"sv, "Voyager 1"sv, "New Horizons"sv, "the International Space Station"sv,
    "the Chandra X-ray Observatory"sv, "the Spitzer Space Telescope"sv, "the Rosetta spacecraft"sv,
    "the Perseverance rover"sv, "the Curiosity rover"sv, "the Parker Solar Probe"sv,
    "the Solar Dynamics Observatory"sv, "Apollo 17"sv, "the Very Large Telescope"sv,
    "a small backyard telescope"sv, "a camera on a tripod"sv,
};

constexpr std::array kFeatureList = {
    "dust lanes"sv, "filaments of glowing hydrogen"sv, "pillars of cold gas"sv, "young blue stars"sv,
    "dark globules"sv, "spiral arms"sv, "tidal tails"sv, "shock fronts"sv, "jets of energetic particles"sv,
    "bright knots of star formation"sv, "reflecting dust clouds"sv, "shells of expanding gas"sv,
    "ionization fronts"sv, "stellar winds"sv, "cloud bands"sv, "craters and ridges"sv,
};

constexpr std::array kProcessList = {
    "are sculpted by the winds of massive stars"sv, "glow in the light of ionized hydrogen"sv,
    "were compressed by an ancient supernova"sv, "are slowly collapsing to form new stars"sv,
    "trace the galaxy's magnetic field"sv, "were pulled out by a gravitational encounter"sv,
    "scatter the blue light of nearby stars"sv, "are being evaporated by intense radiation"sv,
    "record billions of years of cosmic history"sv, "shift and change over only a few years"sv,
    "hide stars that only infrared light reveals"sv, "are rich in carbon and silicate grains"sv,
};

constexpr std::array kForegroundList = {
    "a lone tree"sv, "a mountain ridge"sv, "a calm lake"sv, "an old lighthouse"sv, "a snowy peak"sv,
    "a radio telescope dish"sv, "a desert arch"sv, "a quiet village"sv, "an observatory dome"sv,
    "a rocky coastline"sv, "a field of wildflowers"sv, "a frozen waterfall"sv,
};

constexpr std::array kFirstNameList = {
    "Ana"sv, "Bruno"sv, "Chen"sv, "Dana"sv, "Elif"sv, "Farid"sv, "Greta"sv, "Hiro"sv, "Ines"sv, "Jonas"sv,
    "Kiri"sv, "Lars"sv, "Maya"sv, "Nils"sv, "Olu"sv, "Priya"sv, "Quentin"sv, "Rosa"sv, "Sven"sv,
    "Tomas"sv, "Uma"sv, "Vera"sv, "Wei"sv, "Yara"sv, "Zoltan"sv,
};

constexpr std::array kLastNameList = {
    "Almeida"sv, "Berg"sv, "Castillo"sv, "Dubois"sv, "Eriksen"sv, "Fischer"sv, "Garcia"sv, "Horvat"sv,
    "Ivanova"sv, "Jensen"sv, "Kowalski"sv, "Lindqvist"sv, "Moreau"sv, "Nakamura"sv, "Okafor"sv,
    "Petrov"sv, "Quist"sv, "Rossi"sv, "Sato"sv, "Tanaka"sv, "Urquhart"sv, "Varga"sv, "Weber"sv,
    "Yilmaz"sv, "Zhang"sv,
};

}  // namespace

const std::span<const std::string_view> kNamedObjects{kNamedObjectList};
const std::span<const std::string_view> kObjectKinds{kObjectKindList};
const std::span<const std::string_view> kAdjectives{kAdjectiveList};
const std::span<const std::string_view> kPlaces{kPlaceList};
const std::span<const std::string_view> kPhenomena{kPhenomenonList};
const std::span<const std::string_view> kConstellations{kConstellationList};
const std::span<const std::string_view> kObservatories{kObservatoryList};
const std::span<const std::string_view> kFeatures{kFeatureList};
const std::span<const std::string_view> kProcesses{kProcessList};
const std::span<const std::string_view> kForegrounds{kForegroundList};
const std::span<const std::string_view> kFirstNames{kFirstNameList};
const std::span<const std::string_view> kLastNames{kLastNameList};

}  // namespace ringlb::apod::words
