using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace ShopAstro.EdgeApi.Http;

/// <summary>
/// The 1 MiB body limit on every route, not only on those that read a JSON body: a declared length over the limit
/// is refused before anything runs, and a body of unknown length (chunked) is read to its end first, up to the
/// limit, so that a route that never reads its body (DELETE, cancel, a GET) cannot act on a request that would be
/// refused as too large.
/// </summary>
public static class BodyLimit
{
    private const int InMemoryBytes = 64 * 1024;

    public static IApplicationBuilder UseBodyLimit(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var request = context.Request;
        if (request.ContentLength > JsonBody.MaxBytes)
        {
            await TooLarge(context);
            return;
        }

        if (request.ContentLength is null && CanHaveBody(context) && !request.Path.StartsWithSegments("/hubs"))
        {
            request.EnableBuffering(InMemoryBytes, JsonBody.MaxBytes);
            try
            {
                await request.Body.DrainAsync(context.RequestAborted);
            }
            catch (Exception exception) when (exception is IOException || exception is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                await TooLarge(context);
                return;
            }

            request.Body.Position = 0;
        }

        await next(context);
    });

    private static bool CanHaveBody(HttpContext context) =>
        context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;

    private static Task TooLarge(HttpContext context) => EdgeProblems.WriteAsync(context.Response, EdgeProblems.BodyTooLarge());
}
