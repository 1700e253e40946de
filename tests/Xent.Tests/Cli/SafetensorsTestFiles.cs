using System.Buffers.Binary;
using System.Text;

namespace Xent.Tests.Cli;

/// <summary>.safetensors files for the reader's tests, built byte by byte.</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>The 8-byte length field (<paramref name="lengthField"/>, or the header's true length), the header JSON
    /// as UTF-8, then <paramref name="dataBytes"/> zero bytes of data.</summary>
    public static byte[] Build(string header, int dataBytes, ulong? lengthField = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengthField ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }
}
