using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ShopAstro.EdgeApi.Http;

/// <summary>
/// A 200 with a JSON body written in one synchronous pass of the source-generated serializer straight into the
/// response pipe, then flushed once: for large bodies (a batch's 10,000 results), where the general result's
/// asynchronous, resumable serialization spent more than the decisions themselves.
/// </summary>
public sealed class JsonBodyResult<T>(T value, JsonTypeInfo<T> typeInfo) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        using (var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { SkipValidation = true }))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
