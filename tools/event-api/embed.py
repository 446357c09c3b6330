"""Writes a C++ source defining event_api::page_html() with the bytes of page.html (build step)."""
import sys

src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
lines = []
for i in range(0, len(data), 24):
    lines.append("    " + ", ".join(str(b) for b in data[i:i + 24]) + ",")
with open(out, "w") as f:
    f.write("// Generated from page.html by embed.py: do not edit.\n")
    f.write("#include \"page.hpp\"\n\nnamespace event_api {\nnamespace {\n")
    f.write(f"constexpr unsigned char bytes[{len(data) + 1}] = {{\n")
    f.write("\n".join(lines))
    f.write("\n    0};\n}  // namespace\n\n")
    f.write("std::string_view page_html() {\n")
    f.write(f"    return {{reinterpret_cast<const char*>(bytes), {len(data)}}};\n}}\n}}  // namespace event_api\n")
