// latency.png: the report's main plot as an image for terminals and CI logs that cannot show
// HTML. The SVG is rendered with @resvg/resvg-js rather than by a hand-written rasteriser:
// it draws the very chart report.html shows, text included (a home-made PNG encoder would
// need its own line and font rasterising), it is maintained and widely used, and it installs
// from npm alone (a prebuilt binary per platform in optional dependencies, no download
// script, no system libraries). Fonts come from the system; where none exist the lines are
// still drawn, without labels.
import { Resvg } from '@resvg/resvg-js';

export function svgToPng(svg: string, width = 1440): Uint8Array {
  const rendered = new Resvg(svg, {
    fitTo: { mode: 'width', value: width },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  }).render();
  return rendered.asPng();
}
