using System.Text;

namespace SafeAI.Cli;

/// <summary>A small RFC 4180 CSV reader (quoted fields may hold commas, quotes and line breaks); also reads tab-separated files.</summary>
internal static class Csv
{
    /// <summary>Reads all rows of a file; the first row is the header.</summary>
    public static List<string[]> ReadFile(string path, char separator = ',')
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        return Read(reader, separator);
    }

    public static List<string[]> Read(TextReader reader, char separator = ',')
    {
        var rows = new List<string[]>();
        var row = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            var ch = (char)c;
            any = true;
            if (quoted)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        field.Append('"');
                        reader.Read();
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(ch);
                }

                continue;
            }

            if (ch == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else if (ch == separator)
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (ch == '\n')
            {
                row.Add(field.ToString().TrimEnd('\r'));
                field.Clear();
                rows.Add([.. row]);
                row.Clear();
                any = false;
            }
            else
            {
                field.Append(ch);
            }
        }

        if (any)
        {
            row.Add(field.ToString().TrimEnd('\r'));
            rows.Add([.. row]);
        }

        return rows;
    }

    /// <summary>Finds a column by name (case-insensitive); -1 when absent.</summary>
    public static int Column(string[] header, string name) =>
        Array.FindIndex(header, h => string.Equals(h.Trim(), name, StringComparison.OrdinalIgnoreCase));
}
