using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ShopAstro.LoadTests;

/// <summary>
/// How the ceiling reads and writes JSON: the way the edge does on its hot paths (EdgeApi's CheckFastPath and
/// JsonBodyResult; the body read whole before one synchronous parse, as JsonBody does), so that the ceiling is
/// never slower than the product for a reason that is not the product's own work.
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

    /// <summary>The whole body buffered by the request's pipe, then deserialized in one synchronous pass.</summary>
    public static async Task<T?> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo)
    {
        var reader = request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(request.HttpContext.RequestAborted);
            if (read.IsCompleted)
            {
                var json = new Utf8JsonReader(read.Buffer);
                var value = JsonSerializer.Deserialize(ref json, typeInfo);
                reader.AdvanceTo(read.Buffer.End);
                return value;
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }
}
