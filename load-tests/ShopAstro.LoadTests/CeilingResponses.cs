using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ShopAstro.LoadTests;

/// <summary>
/// How the ceiling reads and writes JSON: the way the edge does on its hot paths (EdgeApi's CheckFastPath,
/// JsonBody and JsonBodyResult), so that the ceiling is never slower than the product for a reason that is not
/// the product's own work.
/// </summary>
public static class CeilingResponses
{
    private const string JsonContentType = "application/json; charset=utf-8";

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>Serialized first into a per-thread buffer, then written with its Content-Length in one write.</summary>
    public static Task WriteWithLength<T>(HttpContext context, T value, JsonTypeInfo<T> typeInfo)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true }))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }

        var response = context.Response;
        response.ContentType = JsonContentType;
        response.ContentLength = buffer.WrittenCount;
        response.BodyWriter.Write(buffer.WrittenSpan);
        return Task.CompletedTask;
    }

    /// <summary>Serialized in one synchronous pass straight into the response pipe, then flushed.</summary>
    public static async Task WriteAsync<T>(HttpContext context, T value, JsonTypeInfo<T> typeInfo)
    {
        var response = context.Response;
        response.ContentType = JsonContentType;
        using (var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { SkipValidation = true }))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>The whole body into a pooled buffer, then deserialized in one synchronous pass.</summary>
    public static async Task<T?> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and var known ? (int)known + 1 : 16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), request.HttpContext.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            return JsonSerializer.Deserialize(buffer.AsSpan(0, length), typeInfo);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
