@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.runtime.saveable
interface SaverScope { fun canBeSaved(value: Any): Boolean }
interface Saver<Original, Saveable : Any>
fun <T : Any> autoSaver(): Saver<T, Any> = TODO()
fun <Original, Saveable> listSaver(
    save: SaverScope.(value: Original) -> List<Saveable>,
    restore: (list: List<Saveable>) -> Original?,
): Saver<Original, Any> = TODO()
fun <T : Any> rememberSaveable(vararg inputs: Any?, saver: Saver<T, out Any> = autoSaver(), key: String? = null, init: () -> T): T = init()
