-- The pandoc preview's one filter: what Quarto's HTML output does with an image's `fig-alt` attribute
-- (quarto-cli src/resources/filters/quarto-post/html.lua, Image: the value becomes the alt attribute).
function Image(el)
  local alt = el.attributes["fig-alt"]
  if alt ~= nil then
    el.attributes["alt"] = alt
    el.attributes["fig-alt"] = nil
  end
  return el
end
