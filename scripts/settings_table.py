"""Print the README's settings table (Markdown) from the one settings object."""

from facesearch.settings import Settings

print("| variable | default | meaning |")
print("| --- | --- | --- |")
for env, default, doc in Settings.describe():
    print(f"| `{env}` | `{default}` | {doc} |")
