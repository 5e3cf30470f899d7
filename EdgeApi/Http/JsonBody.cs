using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace ShopAstro.EdgeApi.Http;

/// <summary>A JSON request body, or the problem that answers it: 415, 413 or 400, never a 5xx.</summary>
public readonly record struct Body<T>(T? Value, IResult? Problem) where T : class;

public static class JsonBody
{
    public const long MaxBytes = 1024 * 1024;

    public static async Task<Body<T>> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo) where T : class
    {
        if (!request.HasJsonContentType())
        {
            return new(null, EdgeProblems.Result(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type",
                "The body must be JSON.", "Send Content-Type: application/json."));
        }

        if (request.ContentLength > MaxBytes)
        {
            return new(null, TooLarge());
        }

        byte[]? buffer = null;
        var length = 0;
        try
        {
            buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and var known ? (int)known + 1 : 16 * 1024);
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > MaxBytes)
                    {
                        return new(null, TooLarge());
                    }

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
                if (length > MaxBytes)
                {
                    return new(null, TooLarge());
                }
            }

            if (length == 0)
            {
                return new(null, EdgeProblems.BadRequest("invalid_json", "The request body is empty."));
            }

            var value = JsonSerializer.Deserialize(buffer.AsSpan(0, length), typeInfo);
            return value is null
                ? new(null, EdgeProblems.BadRequest("invalid_json", "The request body must be a JSON object."))
                : new(value, null);
        }
        catch (JsonException exception)
        {
            return new(null, EdgeProblems.BadRequest("invalid_json", Describe(exception)));
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new(null, TooLarge());
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static IResult TooLarge() => TypedResults.Problem(EdgeProblems.BodyTooLarge());

    // The path and position help the caller; the exception's own message may name internal types.
    private static string Describe(JsonException exception) =>
        exception.Path is { Length: > 0 } path
            ? $"Malformed or mistyped JSON at {path} (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine})."
            : "Malformed JSON.";
}
