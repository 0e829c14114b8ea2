// Copies the front-end libraries from node_modules into static/vendor (run by `make vendor`).
// Nothing here is fetched at run time: the app serves these files itself.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { feature } from "topojson-client";

const out = "static/vendor";
rmSync(out, { recursive: true, force: true });
mkdirSync(`${out}/leaflet`, { recursive: true });
for (const name of ["leaflet.js", "leaflet.css", "images"]) {
  cpSync(`node_modules/leaflet/dist/${name}`, `${out}/leaflet/${name}`, { recursive: true });
}
cpSync("node_modules/leaflet/LICENSE", `${out}/leaflet/LICENSE`);
// Nearby pins grouped into one numbered marker (zoom in to split them).
mkdirSync(`${out}/markercluster`, { recursive: true });
for (const name of ["leaflet.markercluster.js", "MarkerCluster.css", "MarkerCluster.Default.css"]) {
  cpSync(`node_modules/leaflet.markercluster/dist/${name}`, `${out}/markercluster/${name}`);
}
cpSync("node_modules/leaflet.markercluster/MIT-LICENCE.txt", `${out}/markercluster/LICENCE.txt`);

// Japan's outline from Natural Earth (public domain) at 1:50m, as GeoJSON: the map's
// background when no tile server is configured (tests, offline).
const topo = JSON.parse(readFileSync("node_modules/world-atlas/countries-50m.json", "utf8"));
const japan = feature(topo, topo.objects.countries).features.find((f) => f.id === "392");
if (!japan) throw new Error("Japan (ISO 3166 numeric 392) is missing from world-atlas");
const round = (c) => (typeof c[0] === "number" ? c.map((v) => Math.round(v * 1e3) / 1e3) : c.map(round));
japan.geometry.coordinates = round(japan.geometry.coordinates);
mkdirSync(`${out}/japan`, { recursive: true });
writeFileSync(`${out}/japan/japan.geojson`, JSON.stringify({ type: "FeatureCollection", features: [japan] }));
console.log("static/vendor: leaflet, markercluster and the outline of Japan");
