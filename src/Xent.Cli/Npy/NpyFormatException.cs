using System.Text;

namespace Xent.Cli.Npy;

/// <summary>
/// The bytes of a .npy file are not a valid NumPy array of a supported dtype. The message is one line,
/// <c>{file}: {reason}</c>, fit to print as it is.
/// </summary>
internal sealed class NpyFormatException : FormatException
{
    /// <summary>Creates the exception for <paramref name="fileName"/>, which is made printable on one line.</summary>
    public NpyFormatException(string fileName, string reason)
        : base($"{OneLine(fileName)}: {reason}")
    {
        FileName = fileName;
        Reason = reason;
    }

    /// <summary>The file name the message starts with, as the caller gave it.</summary>
    public string FileName { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Reason { get; }

    /// <summary>
    /// Replaces control characters with escapes so a hostile or odd name cannot break the one-line message.
    /// </summary>
    internal static string OneLine(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (char.IsControl(c))
            {
                builder.Append($"\\x{(int)c:x2}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
